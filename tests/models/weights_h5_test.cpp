// md::save_weights / md::load_weights: Keras 3's `.weights.h5` layout. Every layer type round-trips
// bit for bit; a written file holds exactly the groups, datasets, shapes and dtypes Keras 3.16
// writes; files written the way Keras writes them (h5py, old-style HDF5 groups) load; and bad
// files (wrong extension, missing, not HDF5, truncated, corrupted, missing group, count, shape or
// dtype mismatch) raise clear errors and leave the model as it was.
#include <minidl/minidl.h>
#include <minidl/models/weights_h5.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "model_test_helpers.h"

#if defined(__SANITIZE_ADDRESS__)
// HDF5 1.10 leaks some of its own allocations when it gives up on certain damaged files (the
// flipped-byte test makes thousands); LeakSanitizer, on in CI's asan preset, would report them.
// AddressSanitizer still checks every access. (An identifier minidl forgot to close would not be
// a leak to LeakSanitizer either way: HDF5's identifier table keeps it reachable.)
extern "C" const char* __lsan_default_suppressions() { return "leak:libhdf5\n"; }
#endif

namespace md = minidl;

namespace {
// The test folder is one unity build: helpers live in wh5 so their names meet no other file's.
namespace wh5 {

using Kind = md::WeightsFileItem::Kind;

// One line per entry of a weights file: "group <path> name=<attr>" or "dataset <path> <dtype> <shape>".
std::vector<std::string> describe(const std::vector<md::WeightsFileItem>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    switch (item.kind) {
      case Kind::group:
        out.push_back("group " + item.path + (item.name.empty() ? "" : " name=" + item.name));
        break;
      case Kind::dataset:
        out.push_back("dataset " + item.path + " " + item.dtype + " " + md::shape_to_string(item.shape));
        break;
      default:
        out.push_back("link " + item.path);
    }
  }
  return out;
}

// What Keras writes for a saveable: its `vars` group, tagged with the saveable's name, holding
// one dataset per variable.
struct KerasGroup {
  std::string path;  // "" for the root
  std::string name;
  std::vector<std::pair<std::string, md::Shape>> datasets{};  // dtype, shape
};

// The full listing of such a file: h5py's create_group("layers/dense") makes the intermediate
// groups, which carry no attribute.
std::vector<std::string> keras_listing(const std::vector<KerasGroup>& groups) {
  std::map<std::string, std::string> lines;
  for (const KerasGroup& g : groups) {
    const std::string vars = g.path.empty() ? "vars" : g.path + "/vars";
    for (size_t slash = g.path.find('/'); slash != std::string::npos; slash = g.path.find('/', slash + 1)) {
      lines.emplace(g.path.substr(0, slash), "group " + g.path.substr(0, slash));
    }
    if (!g.path.empty()) lines.emplace(g.path, "group " + g.path);
    lines[vars] = "group " + vars + " name=" + g.name;
    for (size_t i = 0; i < g.datasets.size(); ++i) {
      const std::string path = vars + "/" + std::to_string(i);
      lines[path] = "dataset " + path + " " + g.datasets[i].first + " " + md::shape_to_string(g.datasets[i].second);
    }
  }
  std::vector<std::string> out;
  for (const auto& [path, line] : lines) out.push_back(line);
  return out;
}

// The fixtures below are files as Keras 3.16 writes them: h5py (3.7, HDF5 1.10.8) with its
// defaults, each saveable's group made by H5IOStore.make / _create_h5_group and filled by
// H5IOStore.__setitem__, i.e. (Python)
//   g = f.create_group("vars") if not path else f.create_group(path).create_group("vars")
//   g.attrs["name"] = name
//   for i, a in enumerate(arrays): g[str(i)] = a          # float32 ndarrays, 0-d for scalars
// with the values start + 0.125 * arange(n). The bytes are hex with every run of k >= 3 zero
// bytes written "-k.".
//
// small: Input((4, 3)) "query" -> Dense(2) "proj" -> Attention(use_scale, score_mode="concat")
// "attn" on [proj, proj] -> LayerNormalization "norm" -> GlobalAveragePooling1D "pool" ->
// Dense(1) "head", model "keras_small". Groups (path, name, arrays):
//   "" keras_small []; layers/input_layer query []; layers/dense proj [(3,2) from -0.5, (2,) from 0.25];
//   layers/attention attn [0.75, 1.5]; layers/layer_normalization norm [(2,) from 1.0, (2,) from -0.125];
//   layers/global_average_pooling1d pool []; layers/dense_1 head [(2,1) from 0.375, (1,) from -0.0625]
const char* const kKerasSmall =
    "894844460d0a1a0a-5.080800040010-13.ffffffffffffffff805c-6.ffffffffffffffff-8.60-7.01-7.88-7.a802-6.0100010001-"
    "3.18-7.110010-5.88-7.a802-6.5452454500000100ffffffffffffffffffffffffffffffff-8.e005-6.08-503.48454150-4.58-7.1"
    "8-7.c802-14.76617273-4.6c6179657273000001-7.40-55.0100030001-3.18-7.100010-5.2807-6.60-7.54524545-4.ffffffffff"
    "ffffffffffffffffffffff-520.48454150-4.58-7.08-7.8805-14.01-7.50-71.534e4f440100020010-7.8807-6.01-8.18-6.201a-"
    "6.08-7.2003-6.01-7.4803-6.6805-246.110010-5.4803-6.6805-6.0c0040-5.01000500140008006e616d65-4.1901010010-3.10-"
    "3.01-5.08-5.01-7.0b-4.08-6.01-3.0100010001-3.18-7.110010-6.18-6.201a-6.0100010001-3.18-7.110010-5.981a-6.b81c-"
    "6.0100030001-3.18-7.100010-5.5822-6.60-7.47434f4c01-4.10-6.01-7.0b-7.6b657261735f736d616c6c-5.02-7.05-7.717565"
    "7279-3.03-7.04-7.70726f6a-4.04-7.04-7.6174746e-4.05-7.04-7.6e6f726d-4.06-7.04-7.706f6f6c-4.07-7.04-7.68656164-"
    "12.400f-3894.5452454500000100ffffffffffffffffffffffffffffffff-8.301d-6.30-503.48454150-4.b0-7.70-7.284d-6.0100"
    "030001-3.18-7.100010-5.b851-6.60-7.0100010001-3.18-7.110010-5.1852-6.3854-14.5452454500000100fffffffffffffffff"
    "fffffffffffffff-8.1021-6.08-503.48454150-4.58-7.10-7.d81c-14.76617273-4.01-7.48-63.534e4f440100060020-7.4835-6"
    ".01-7.7035-6.9037-6.18-7.b822-6.01-7.e022-7.25-6.68-7.681a-6.01-7.1852-6.3854-6.48-7.684a-6.01-7.904a-6.b04c-6"
    ".08-7.b007-6.01-7.981a-6.b81c-6.30-7.d83f-6.01-8.40-6.2042-86.54524545-4.ffffffffffffffffffffffffffffffff-520."
    "48454150-4.58-7.08-7.b820-14.01-7.50-71.534e4f440100010008-7.d807-6.01-7.781e-6.9820-286.110010-5.781e-6.9820-"
    "6.0c0040-5.01000500140008006e616d65-4.1901010010-3.10-3.01-5.08-5.01-7.05-4.08-6.02-3.0100010001-3.18-7.110010"
    "-5.e022-7.25-6.5452454500000100ffffffffffffffffffffffffffffffff-8.3828-6.08-503.48454150-4.58-7.10-7.2025-14.7"
    "6617273-4.01-7.48-63.0100030001-3.18-7.100010-5.8029-6.60-7.5452454500000100ffffffffffffffffffffffffffffffff-8"
    ".f032-6.10-503.48454150-4.58-7.18-7.e027-14.30-7.31-7.01-7.40-55.534e4f440100010008-7.7825-6.01-7.a025-6.c027-"
    "286.110010-5.a025-6.c027-6.0c0040-5.01000500140008006e616d65-4.1901010010-3.10-3.01-5.08-5.01-7.04-4.08-6.03-3"
    ".0100050001-4.01-6.010028-5.010201-5.03-7.02-7.03-7.02-7.0300180001-3.11201f0004-5.2000170800177f-7.0500080001"
    "-3.02020201-4.080018-5.0301f02a-6.18-15.78-128.bf0000c0be000080be-3.be-7.3e0000803e0000c03e0000403f0000c03f000"
    "0803f0000903f-3.be-6.c03e-3.3f000080bd-1980.534e4f440100020008-7.e029-30.10-7.3834-270.0100050001-4.01-6.01001"
    "8-5.010101-5.02-7.02-7.0300180001-3.11201f0004-5.2000170800177f-7.0500080001-3.02020201-4.080018-5.0301082b-6."
    "08-15.88-141.0100010001-3.18-7.110010-5.7035-6.9037-6.5452454500000100ffffffffffffffffffffffffffffffff-8.c83a-"
    "6.08-503.48454150-4.58-7.10-7.b037-14.76617273-4.01-7.48-63.0100030001-3.18-7.100010-5.103c-6.60-7.54524545000"
    "00100ffffffffffffffffffffffffffffffff-8.803d-6.10-503.48454150-4.58-7.18-7.703a-14.30-7.31-7.01-7.40-55.534e4f"
    "440100010008-7.0838-6.01-7.3038-6.503a-286.110010-5.3038-6.503a-6.0c0040-5.01000500140008006e616d65-4.19010100"
    "10-3.10-3.01-5.08-5.01-7.04-4.08-6.04-3.0100050001-4.01-6.010008-5.01-7.0300180001-3.11201f0004-5.200017080017"
    "7f-7.0500080001-3.02020201-4.080018-5.0301102b-6.04-15.98-157.534e4f440100020008-7.703c-30.10-7.c83e-270.01000"
    "50001-4.01-6.010008-5.01-7.0300180001-3.11201f0004-5.2000170800177f-7.0500080001-3.02020201-4.080018-5.0301142"
    "b-6.04-15.98-157.0100010001-3.18-7.110010-6.40-6.2042-6.5452454500000100ffffffffffffffffffffffffffffffff-8.584"
    "5-6.08-503.48454150-4.58-7.10-7.4042-14.76617273-4.01-7.48-63.0100030001-3.18-7.100010-5.a046-6.60-7.545245450"
    "0000100ffffffffffffffffffffffffffffffff-8.1048-6.10-503.48454150-4.58-7.18-8.45-14.30-7.31-7.01-7.40-55.534e4f"
    "440100010008-7.9842-6.01-7.c042-6.e044-286.110010-5.c042-6.e044-6.0c0040-5.01000500140008006e616d65-4.19010100"
    "10-3.10-3.01-5.08-5.01-7.04-4.08-6.05-3.0100050001-4.01-6.010018-5.010101-5.02-7.02-7.0300180001-3.11201f0004-"
    "5.2000170800177f-7.0500080001-3.02020201-4.080018-5.0301182b-6.08-15.88-141.534e4f440100020008-8.47-30.10-7.58"
    "49-270.0100050001-4.01-6.010018-5.010101-5.02-7.02-7.0300180001-3.11201f0004-5.2000170800177f-7.0500080001-3.0"
    "2020201-4.080018-5.0301202b-6.08-15.88-141.0100010001-3.18-7.110010-5.904a-6.b04c-6.5452454500000100ffffffffff"
    "ffffffffffffffffffffff-8.7050-6.08-503.48454150-4.58-7.10-7.d04c-14.76617273-4.01-7.48-71.696e7075745f6c617965"
    "72-5.64656e7365-3.617474656e74696f6e-7.6c617965725f6e6f726d616c697a6174696f6e-5.676c6f62616c5f617665726167655f"
    "706f6f6c696e673164-8.64656e73655f310001-7.40-55.54524545-4.ffffffffffffffffffffffffffffffff-520.48454150-4.58-"
    "7.08-7.1850-14.01-7.50-71.534e4f440100010008-7.401a-6.01-7.d84d-6.f84f-286.110010-5.d84d-6.f84f-6.0c0040-5.010"
    "00500140008006e616d65-4.1901010010-3.10-3.01-5.08-5.01-7.04-4.08-6.06-3.5452454500000100ffffffffffffffffffffff"
    "ffffffffff-8.7057-6.08-503.48454150-4.58-7.10-7.5854-14.76617273-4.01-7.48-63.0100030001-3.18-7.100010-5.b858-"
    "6.60-7.5452454500000100ffffffffffffffffffffffffffffffff-8.285a-6.10-503.48454150-4.58-7.18-7.1857-14.30-7.31-7"
    ".01-7.40-55.534e4f440100010008-7.b054-6.01-7.d854-6.f856-286.110010-5.d854-6.f856-6.0c0040-5.01000500140008006"
    "e616d65-4.1901010010-3.10-3.01-5.08-5.01-7.04-4.08-6.07-3.0100050001-4.01-6.010028-5.010201-5.02-7.01-7.02-7.0"
    "1-7.0300180001-3.11201f0004-5.2000170800177f-7.0500080001-3.02020201-4.080018-5.0301282b-6.08-15.78-125.534e4f"
    "440100020008-7.1859-30.10-7.705b-270.0100050001-4.01-6.010018-5.010101-5.01-7.01-7.0300180001-3.11201f0004-5.2"
    "000170800177f-7.0500080001-3.02020201-4.080018-5.0301302b-6.04-15.88-141.";

// f64: Input((3,)) "x" -> Dense(2) "dense", model "tiny", with a float64 kernel (from -0.5) and a
// float32 bias (from 0.25): what a hand-made script that forgets astype("float32") writes.
const char* const kKerasFloat64 =
    "894844460d0a1a0a-5.080800040010-13.ffffffffffffffff4835-6.ffffffffffffffff-8.60-7.01-7.88-7.a802-6.0100010001-"
    "3.18-7.110010-5.88-7.a802-6.5452454500000100ffffffffffffffffffffffffffffffff-8.e005-6.08-503.48454150-4.58-7.1"
    "8-7.c802-14.76617273-4.6c6179657273000001-7.40-55.0100030001-3.18-7.100010-5.2807-6.60-7.54524545-4.ffffffffff"
    "ffffffffffffffffffffff-520.48454150-4.58-7.08-7.8805-14.01-7.50-71.534e4f440100020010-7.8807-6.01-8.18-6.201a-"
    "6.08-7.2003-6.01-7.4803-6.6805-246.110010-5.4803-6.6805-6.0c0040-5.01000500140008006e616d65-4.1901010010-3.10-"
    "3.01-5.08-5.01-7.04-4.08-6.01-3.0100010001-3.18-7.110010-6.18-6.201a-6.0100010001-3.18-7.110010-5.981a-6.b81c-"
    "6.0100030001-3.18-7.100010-5.5822-6.60-7.47434f4c01-4.10-6.01-7.04-7.74696e79-4.02-7.01-7.78-7.03-7.05-7.64656"
    "e7365-11.a80f-3998.5452454500000100ffffffffffffffffffffffffffffffff-8.301d-6.08-503.48454150-4.58-7.20-7.401a-"
    "14.696e7075745f6c61796572-5.64656e7365-3.01-7.38-47.5452454500000100ffffffffffffffffffffffffffffffff-8.1021-6."
    "08-503.48454150-4.58-7.10-7.d81c-14.76617273-4.01-7.48-63.534e4f440100020018-7.b822-6.01-7.e022-7.25-6.08-7.b0"
    "07-6.01-7.981a-6.b81c-246.54524545-4.ffffffffffffffffffffffffffffffff-520.48454150-4.58-7.08-7.b820-14.01-7.50"
    "-71.534e4f440100010008-7.d807-6.01-7.781e-6.9820-286.110010-5.781e-6.9820-6.0c0040-5.01000500140008006e616d65-"
    "4.1901010010-3.10-3.01-5.08-5.01-7.01-4.08-6.02-3.0100010001-3.18-7.110010-5.e022-7.25-6.5452454500000100fffff"
    "fffffffffffffffffffffffffff-8.3828-6.08-503.48454150-4.58-7.10-7.2025-14.76617273-4.01-7.48-63.0100030001-3.18"
    "-7.100010-5.8029-6.60-7.5452454500000100ffffffffffffffffffffffffffffffff-8.f032-6.10-503.48454150-4.58-7.18-7."
    "e027-14.30-7.31-7.01-7.40-55.534e4f440100010008-7.7825-6.01-7.a025-6.c027-286.110010-5.a025-6.c027-6.0c0040-5."
    "01000500140008006e616d65-4.1901010010-3.10-3.01-5.08-5.01-7.05-4.08-6.03-3.0100050001-4.01-6.010028-5.010201-5"
    ".03-7.02-7.03-7.02-7.0300180001-3.11203f0008-5.4000340b0034ff03-6.0500080001-3.02020201-4.080018-5.0301f02a-6."
    "30-15.78-131.e0bf-6.d8bf-6.d0bf-6.c0bf-14.c03f0000803e0000c03e-1992.534e4f440100020008-7.e029-30.10-7.3834-270"
    ".0100050001-4.01-6.010018-5.010101-5.02-7.02-7.0300180001-3.11201f0004-5.2000170800177f-7.0500080001-3.0202020"
    "1-4.080018-5.0301202b-6.08-15.88-141.";

// legacy: tiny()'s weights (kernel from -0.5, bias from 0.25) under tf.keras 2.13's name for the
// layer list, which Keras 3's H5IOStore.get falls back to (h5py, libver="latest"):
//   f.create_group("_layer_checkpoint_dependencies/dense").create_group("vars")
const char* const kTfKerasLegacy =
    "894844460d0a1a0a030808-9.ffffffffffffffff2008-6.30-7.1319ff394f4844520220eaa6076beaa6076beaa6076beaa6076b78021"
    "2-4.ffffffffffffffffffffffffffffffff0a02000100000629000001001e5f6c617965725f636865636b706f696e745f646570656e64"
    "656e63696573c3-7.060f0000010004766172739404-7.18-26.729b89c24f4844520220eaa6076beaa6076beaa6076beaa6076b780212"
    "-4.ffffffffffffffffffffffffffffffff0a02000100000610000001000564656e73655601-7.44-70.1e5bb5be4f4844520220eaa607"
    "6beaa6076beaa6076beaa6076b780212-4.ffffffffffffffffffffffffffffffff0a0200010000060f000001000476617273e901-7.45"
    "-71.d64785e54f4844520220eaa6076beaa6076beaa6076beaa6076b780212-4.ffffffffffffffffffffffffffffffff0a02000100000"
    "60c0000010001307c02-6.060c0000010001318803-7.38-58.8e573fe24f48445202010001012400000202010103-7.02-7.03-7.02-7"
    ".0314000111201f0004-5.2000170800177f-3.05020001030a0812000004010008-6.18-8.a0-162.c58ca5114f484452020100010114"
    "00000201010102-7.02-7.0314000111201f0004-5.2000170800177f-3.05020001030a0812000004011808-6.08-8.b0-178.571d6f3"
    "24f4844520220eaa6076beaa6076beaa6076beaa6076b780212-4.ffffffffffffffffffffffffffffffff0a020001-3.58-90.dc96cff"
    "a-732.bf0000c0be000080be-3.be-7.3e0000803e0000c03e";

// softlink: the same values at /elsewhere/vars, with layers/dense a soft link to /elsewhere
// (h5py.SoftLink), which Keras's safe_get_h5_group refuses.
const char* const kSoftLink =
    "894844460d0a1a0a030808-9.ffffffffffffffff2008-6.30-7.1319ff394f4844520220eaa6076beaa6076beaa6076beaa6076b78021"
    "2-4.ffffffffffffffffffffffffffffffff0a020001000006140000010009656c73657768657265c3-7.061100000100066c617965727"
    "30104-7.2b-45.c5b499da4f4844520220eaa6076beaa6076beaa6076beaa6076b780212-4.ffffffffffffffffffffffffffffffff0a0"
    "200010000060f0000010004766172735601-7.45-71.f28c45814f4844520220eaa6076beaa6076beaa6076beaa6076b780212-4.fffff"
    "fffffffffffffffffffffffffff0a0200010000060c000001000130e901-6.060c000001000131f502-7.38-58.bdde76e84f484452020"
    "10001012400000202010103-7.02-7.03-7.02-7.0314000111201f0004-5.2000170800177f-3.05020001030a0812000004010008-6."
    "18-8.a0-162.c58ca5114f48445202010001011400000201010102-7.02-7.0314000111201f0004-5.2000170800177f-3.0502000103"
    "0a0812000004011808-6.08-8.b0-178.571d6f324f4844520220eaa6076beaa6076beaa6076beaa6076b780212-4.ffffffffffffffff"
    "ffffffffffffffff0a0200010000061500000108010564656e73650a002f656c73657768657265003f-65.0e03c510-879.bf0000c0be0"
    "00080be-3.be-7.3e0000803e0000c03e";

std::string decode_fixture(const char* text) {
  std::string out;
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; text[i] != '\0';) {
    if (text[i] == '-') {
      size_t count = 0;
      for (++i; text[i] != '.'; ++i) count = count * 10 + static_cast<size_t>(text[i] - '0');
      out.append(count, '\0');
      ++i;
    } else {
      out.push_back(static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1])));
      i += 2;
    }
  }
  return out;
}

// values start + 0.125 * i, as the fixtures hold them.
md::Tensor ramp(const md::Shape& shape, float start) {
  std::vector<float> values(static_cast<size_t>(md::shape_size(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = start + 0.125f * static_cast<float>(i);
  return md::Tensor::from_vector(values, shape);
}

// The minidl twin of the `small` fixture's model.
md::Model keras_small() {
  const md::Tensor x = md::Input({4, 3}, "query");
  const md::Tensor p = md::layers::Dense({.units = 2, .name = "proj"})(x);
  const md::Tensor a = md::layers::Attention({.use_scale = true, .score_mode = "concat", .name = "attn"})({p, p});
  const md::Tensor n = md::layers::LayerNormalization({.name = "norm"})(a);
  const md::Tensor pooled = md::layers::GlobalAveragePooling1D({.name = "pool"})(n);
  return md::Model(x, md::layers::Dense({.units = 1, .name = "head"})(pooled), "keras_small");
}

md::Model tiny(int64_t units = 2, bool use_bias = true) {
  const md::Tensor x = md::Input({3}, "x");
  return md::Model(x, md::layers::Dense({.units = units, .use_bias = use_bias, .name = "dense"})(x), "tiny");
}

// A variable as an optimizer holds it: path "<optimizer>/<name>", not trainable.
md::Variable optimizer_variable(const md::Tensor& value, const std::string& name) {
  md::Variable v(value, name, /*trainable=*/false);
  v.set_path("adam/" + name);
  return v;
}

std::vector<md::Variable> adam_like_state(const md::Layer& model, float offset) {
  std::vector<md::Variable> out = {optimizer_variable(md::Tensor::scalar(7.0f + offset, md::DType::int32), "iteration"),
                                   optimizer_variable(md::Tensor::scalar(0.001f + offset), "learning_rate")};
  uint64_t seed = 50 + static_cast<uint64_t>(offset);
  for (const md::Variable& w : model.trainable_weights()) {
    const std::string base = w.path().substr(0, w.path().find('/')) + "_" + w.name();
    out.push_back(optimizer_variable(md::random::normal(w.shape(), offset, 1.0f, seed++), base + "_momentum"));
    out.push_back(optimizer_variable(md::random::normal(w.shape(), offset, 1.0f, seed++), base + "_velocity"));
  }
  return out;
}

std::vector<md::Tensor> values_of(const std::vector<md::Variable>& variables) {
  std::vector<md::Tensor> out;
  for (const md::Variable& v : variables) out.push_back(v.value().clone());
  return out;
}

}  // namespace wh5
}  // namespace

TEST_CASE("weights_h5: every layer type round-trips bit for bit into a fresh model", "[models][weights_h5]") {
  mt::TempDir dir;
  const std::string path = dir.file("everything.weights.h5");
  md::Model saved = mt::everything();
  mt::fill_weights(saved, 100);
  const md::Tensor x = mt::token_batch();
  const md::Tensor expected = saved(x);
  md::save_weights(saved, path);

  md::Model fresh = mt::everything();
  mt::fill_weights(fresh, 900);
  REQUIRE_FALSE(mt::same_bits(fresh(x), expected));
  md::load_weights(fresh, path);
  CHECK(mt::same_weights(fresh.get_weights(), saved.get_weights()));
  CHECK(mt::same_bits(fresh(x), expected));
}

TEST_CASE("weights_h5: the file holds exactly the groups, datasets, shapes and dtypes Keras 3 writes",
          "[models][weights_h5]") {
  mt::TempDir dir;
  const std::string path = dir.file("everything.weights.h5");
  md::Model model = mt::everything();
  // Keras's model.layers order for this graph (function.py map_graph: decreasing depth, ties in
  // the pre-order of the walk from the outputs); the group names follow it.
  REQUIRE(mt::names_of(model.layers()) == std::vector<std::string>{"ids", "embed", "norm", "query", "value", "additive",
                                                                   "concat_attention", "sum", "drop", "regroup", "flat",
                                                                   "pool", "block", "merge", "squash", "logits"});
  md::save_weights(model, path);

  // Derived from keras/src/saving/saving_lib.py at 3.16: _save_state writes the root's own
  // variables in /vars (a Functional has none), tagging each vars group with attrs["name"] =
  // saveable.name (so layers without variables still get an empty group); _walk_saveable visits
  // `model.layers` first, and _save_container_state names each one
  // _get_unique_name(to_snake_case(class name)): dense, dense_1, dense_2 in model.layers order,
  // whatever the layers are called. A nested Functional recurses the same way under its own path.
  // The datasets are Layer.save_own_variables: "0", "1", ... = own trainable then non-trainable
  // variables in creation order (Dense: kernel, bias; LayerNormalization: gamma, beta;
  // AdditiveAttention: scale (dim,); Attention concat + use_scale: scale (), concat_score_weight ()).
  const std::string f32 = "float32";
  const std::vector<std::string> expected = wh5::keras_listing({
      {"", "everything"},
      {"layers/input_layer", "ids"},
      {"layers/embedding", "embed", {{f32, {20, 8}}}},
      {"layers/layer_normalization", "norm", {{f32, {8}}, {f32, {8}}}},
      {"layers/dense", "query", {{f32, {8, 8}}, {f32, {8}}}},
      {"layers/dense_1", "value", {{f32, {8, 8}}, {f32, {8}}}},
      {"layers/additive_attention", "additive", {{f32, {8}}}},
      {"layers/attention", "concat_attention", {{f32, {}}, {f32, {}}}},
      {"layers/add", "sum"},
      {"layers/dropout", "drop"},
      {"layers/reshape", "regroup"},
      {"layers/flatten", "flat"},
      {"layers/global_average_pooling1d", "pool"},
      {"layers/functional", "block"},
      {"layers/functional/layers/input_layer", "block_in"},
      {"layers/functional/layers/dense", "block_dense", {{f32, {48, 4}}, {f32, {4}}}},
      {"layers/concatenate", "merge"},
      {"layers/activation", "squash"},
      {"layers/dense_2", "logits", {{f32, {12, 3}}, {f32, {3}}}},
  });
  CHECK(wh5::describe(md::list_weights_file(path)) == expected);
}

TEST_CASE("weights_h5: Sequential models, a nested Sequential and a lone layer", "[models][weights_h5]") {
  mt::TempDir dir;
  const std::string f32 = "float32";
  SECTION("Sequential: its layers without the InputLayer (Keras's Sequential.layers)") {
    const auto make = [] {
      return md::Sequential({md::Input({4}, "seq_in"), md::layers::Dense({.units = 3, .name = "first"}),
                             md::layers::Dense({.units = 2, .name = "second"})},
                            "stack");
    };
    md::Sequential model = make();
    mt::fill_weights(model, 5);
    md::save_weights(model, dir.file("stack.weights.h5"));
    CHECK(wh5::describe(md::list_weights_file(dir.file("stack.weights.h5"))) ==
          wh5::keras_listing({{"", "stack"},
                              {"layers/dense", "first", {{f32, {4, 3}}, {f32, {3}}}},
                              {"layers/dense_1", "second", {{f32, {3, 2}}, {f32, {2}}}}}));
    md::Sequential again = make();
    md::load_weights(again, dir.file("stack.weights.h5"));
    CHECK(mt::same_weights(again.get_weights(), model.get_weights()));
  }
  SECTION("a Sequential inside a functional model nests under layers/sequential") {
    const auto make = [] {
      md::Sequential inner({md::layers::Dense({.units = 2, .name = "inner_dense"})}, "inner");
      const md::Tensor x = md::Input({3}, "outer_in");
      return md::Model(x, inner(x), "outer");
    };
    md::Model model = make();
    mt::fill_weights(model, 9);
    md::save_weights(model, dir.file("outer.weights.h5"));
    CHECK(wh5::describe(md::list_weights_file(dir.file("outer.weights.h5"))) ==
          wh5::keras_listing({{"", "outer"},
                              {"layers/input_layer", "outer_in"},
                              {"layers/sequential", "inner"},
                              {"layers/sequential/layers/dense", "inner_dense", {{f32, {3, 2}}, {f32, {2}}}}}));
    md::Model again = make();
    md::load_weights(again, dir.file("outer.weights.h5"));
    CHECK(mt::same_weights(again.get_weights(), model.get_weights()));
  }
  SECTION("a lone layer keeps its own variables in /vars") {
    md::layers::Dense dense({.units = 2, .name = "solo"});
    dense(md::random::normal({1, 3}, 0.0f, 1.0f, 1));
    mt::fill_weights(dense, 3);
    md::save_weights(dense, dir.file("solo.weights.h5"));
    CHECK(wh5::describe(md::list_weights_file(dir.file("solo.weights.h5"))) ==
          wh5::keras_listing({{"", "solo", {{f32, {3, 2}}, {f32, {2}}}}}));
    md::layers::Dense other({.units = 2, .name = "other"});
    other(md::random::normal({1, 3}, 0.0f, 1.0f, 2));
    md::load_weights(other, dir.file("solo.weights.h5"));
    CHECK(mt::same_weights(other.get_weights(), dense.get_weights()));
  }
}

TEST_CASE("weights_h5: a file written the way Keras writes it loads", "[models][weights_h5][compat]") {
  mt::TempDir dir;
  const std::string keras_file = dir.file("keras_small.weights.h5");
  mt::write_bytes(keras_file, wh5::decode_fixture(wh5::kKerasSmall));
  md::Model model = wh5::keras_small();
  md::load_weights(model, keras_file);
  const std::vector<md::Tensor> w = model.get_weights();
  REQUIRE(w.size() == 8);
  CHECK(mt::same_bits(w[0], wh5::ramp({3, 2}, -0.5f)));   // proj kernel
  CHECK(mt::same_bits(w[1], wh5::ramp({2}, 0.25f)));      // proj bias
  CHECK(mt::same_bits(w[2], md::Tensor::scalar(0.75f)));  // attn scale
  CHECK(mt::same_bits(w[3], md::Tensor::scalar(1.5f)));   // attn concat_score_weight
  CHECK(mt::same_bits(w[4], wh5::ramp({2}, 1.0f)));       // norm gamma
  CHECK(mt::same_bits(w[5], wh5::ramp({2}, -0.125f)));    // norm beta
  CHECK(mt::same_bits(w[6], wh5::ramp({2, 1}, 0.375f)));  // head kernel
  CHECK(mt::same_bits(w[7], wh5::ramp({1}, -0.0625f)));   // head bias

  // minidl writes the same tree for the same model: groups, names, datasets, shapes, dtypes.
  const std::string ours = dir.file("minidl_small.weights.h5");
  md::save_weights(model, ours);
  const std::vector<std::string> keras_tree = wh5::describe(md::list_weights_file(keras_file));
  CHECK(wh5::describe(md::list_weights_file(ours)) == keras_tree);
  const std::string f32 = "float32";
  CHECK(keras_tree == wh5::keras_listing({{"", "keras_small"},
                                          {"layers/input_layer", "query"},
                                          {"layers/dense", "proj", {{f32, {3, 2}}, {f32, {2}}}},
                                          {"layers/attention", "attn", {{f32, {}}, {f32, {}}}},
                                          {"layers/layer_normalization", "norm", {{f32, {2}}, {f32, {2}}}},
                                          {"layers/global_average_pooling1d", "pool"},
                                          {"layers/dense_1", "head", {{f32, {2, 1}}, {f32, {1}}}}}));
  md::Model again = wh5::keras_small();
  md::load_weights(again, ours);
  CHECK(mt::same_weights(again.get_weights(), w));

  // tf.keras 2.13+ named the layer list _layer_checkpoint_dependencies; Keras 3 still reads it.
  const std::string legacy = dir.file("legacy.weights.h5");
  mt::write_bytes(legacy, wh5::decode_fixture(wh5::kTfKerasLegacy));
  md::Model tiny = wh5::tiny();
  md::load_weights(tiny, legacy);
  REQUIRE(tiny.get_weights().size() == 2);
  CHECK(mt::same_bits(tiny.get_weights()[0], wh5::ramp({3, 2}, -0.5f)));
  CHECK(mt::same_bits(tiny.get_weights()[1], wh5::ramp({2}, 0.25f)));
}

TEST_CASE("weights_h5: optimizer variables under /optimizer/vars", "[models][weights_h5][optimizer]") {
  mt::TempDir dir;
  const std::string path = dir.file("ckpt.weights.h5");
  md::Model model = wh5::tiny();
  mt::fill_weights(model, 11);
  const std::vector<md::Variable> state = wh5::adam_like_state(model, 0.0f);
  md::save_weights(model, path, {.include_optimizer_variables = true, .optimizer_variables = state});

  // BaseOptimizer.save_own_variables: iteration (int64 on Keras's TensorFlow backend),
  // learning_rate, then the slots; the group is named after the optimizer.
  const std::string f32 = "float32";
  CHECK(wh5::describe(md::list_weights_file(path)) ==
        wh5::keras_listing(
            {{"", "tiny"},
             {"layers/input_layer", "x"},
             {"layers/dense", "dense", {{f32, {3, 2}}, {f32, {2}}}},
             {"optimizer", "adam", {{"int64", {}}, {f32, {}}, {f32, {3, 2}}, {f32, {3, 2}}, {f32, {2}}, {f32, {2}}}}}));

  // Restored into another model and optimizer state.
  md::Model other = wh5::tiny();
  mt::fill_weights(other, 12);
  const std::vector<md::Variable> restored = wh5::adam_like_state(other, 3.0f);
  md::load_weights(other, path, restored);
  CHECK(mt::same_weights(other.get_weights(), model.get_weights()));
  CHECK(mt::same_weights(wh5::values_of(restored), wh5::values_of(state)));
  CHECK(restored[0].value().dtype() == md::DType::int32);
  CHECK(restored[0].value().item() == 7.0f);

  // The shorthand overload writes the same file; without optimizer variables, /optimizer is ignored.
  md::save_weights(model, dir.file("short.weights.h5"), state);
  CHECK(wh5::describe(md::list_weights_file(dir.file("short.weights.h5"))) ==
        wh5::describe(md::list_weights_file(path)));
  md::Model plain = wh5::tiny();
  md::load_weights(plain, path);
  CHECK(mt::same_weights(plain.get_weights(), model.get_weights()));

  SECTION("an optimizer that was not built yet: Keras's count message, nothing assigned") {
    md::Model target = wh5::tiny();
    mt::fill_weights(target, 13);
    const auto before = target.get_weights();
    const std::vector<md::Variable> unbuilt(restored.begin(), restored.begin() + 2);
    const auto unbuilt_before = wh5::values_of(unbuilt);
    const std::string message = mt::error_message([&] { md::load_weights(target, path, unbuilt); });
    CHECK(message.rfind("Cannot load weights from '" + path +
                            "': Skipping variable loading for optimizer 'adam', because it has 2 variables whereas "
                            "the saved optimizer has 6 variables.",
                        0) == 0);
    CHECK(mt::same_weights(target.get_weights(), before));
    CHECK(mt::same_weights(wh5::values_of(unbuilt), unbuilt_before));
  }
  SECTION("a file without optimizer state") {
    md::save_weights(model, dir.file("weights_only.weights.h5"));
    CHECK(mt::error_message([&] { md::load_weights(other, dir.file("weights_only.weights.h5"), restored); }) ==
          "Cannot load weights from '" + dir.file("weights_only.weights.h5") +
              "': the file has no optimizer state: group 'optimizer' is missing.");
  }
  SECTION("include_optimizer_variables without variables") {
    CHECK_THROWS_AS(
        md::save_weights(model, dir.file("x.weights.h5"), md::SaveWeightsOptions{.include_optimizer_variables = true}),
        md::ValueError);
    CHECK_FALSE(std::filesystem::exists(dir.file("x.weights.h5")));
  }
}

TEST_CASE("weights_h5: bad files and mismatched models raise clear errors and change nothing",
          "[models][weights_h5][errors]") {
  mt::TempDir dir;
  md::Model model = wh5::tiny();
  mt::fill_weights(model, 21);
  const std::vector<md::Tensor> before = model.get_weights();
  const std::string good = dir.file("good.weights.h5");
  md::save_weights(model, good);
  const auto unchanged = [&] { return mt::same_weights(model.get_weights(), before); };

  SECTION("wrong extension: Keras's messages") {
    const std::string h5 = dir.file("model.h5");
    CHECK_THROWS_AS(md::save_weights(model, h5), md::ValueError);
    CHECK(mt::error_message([&] { md::save_weights(model, h5); }) ==
          "The filename must end in `.weights.h5`. Received: filepath=" + h5);
    CHECK_FALSE(std::filesystem::exists(h5));
    const std::string keras = dir.file("model.keras");
    CHECK_THROWS_AS(md::load_weights(model, keras), md::ValueError);
    CHECK(mt::error_message([&] { md::load_weights(model, keras); })
              .rfind("File format not supported: filepath=" + keras + ". md::load_weights only supports `.weights.h5`",
                     0) == 0);
  }
  SECTION("a missing file, a directory, a file that is not HDF5, an empty file") {
    const std::string missing = dir.file("missing.weights.h5");
    CHECK_THROWS_AS(md::load_weights(model, missing), md::IOError);
    CHECK(mt::error_message([&] { md::load_weights(model, missing); }) ==
          "Cannot load weights from '" + missing + "': no such file.");
    std::filesystem::create_directory(dir.file("folder.weights.h5"));
    CHECK(mt::error_message([&] { md::load_weights(model, dir.file("folder.weights.h5")); }) ==
          "Cannot load weights from '" + dir.file("folder.weights.h5") + "': it is a directory, not a file.");
    const std::string text = dir.file("notes.weights.h5");
    mt::write_text(text, "these are not weights\n");
    CHECK_THROWS_AS(md::load_weights(model, text), md::IOError);
    CHECK(mt::error_message([&] { md::load_weights(model, text); }) ==
          "Cannot load weights from '" + text + "': not an HDF5 file (no HDF5 signature found).");
    const std::string empty = dir.file("empty.weights.h5");
    mt::write_text(empty, "");
    CHECK_THROWS_AS(md::load_weights(model, empty), md::IOError);
    CHECK(unchanged());
  }
  SECTION("a missing group names it, with Keras's count message; no layer is loaded") {
    const auto make_deeper = [] {
      const md::Tensor x = md::Input({3}, "x");
      const md::Tensor h = md::layers::Dense({.units = 2, .name = "dense"})(x);
      return md::Model(x, md::layers::Dense({.units = 2, .name = "extra"})(h), "deeper");
    };
    md::Model deeper = make_deeper();
    mt::fill_weights(deeper, 22);
    const auto deeper_before = deeper.get_weights();
    CHECK_THROWS_AS(md::load_weights(deeper, good), md::ValueError);
    CHECK(mt::error_message([&] { md::load_weights(deeper, good); }) ==
          "Cannot load weights from '" + good +
              "': A total of 1 objects could not be loaded. Example error message for object <Dense name=extra, "
              "built=True>:\n\nGroup 'layers/dense_1' is missing from the file. Layer 'extra' expected 2 variables, "
              "but received 0 variables during loading. Expected: ['kernel', 'bias']\n\nList of objects that could "
              "not be loaded:\n[<Dense name=extra, built=True>]");
    // Layer "dense" matched the file, but nothing is assigned when any layer fails.
    CHECK(mt::same_weights(deeper.get_weights(), deeper_before));
  }
  SECTION("a weight count mismatch: Keras's text") {
    md::Model no_bias = wh5::tiny(2, /*use_bias=*/false);
    md::save_weights(no_bias, dir.file("no_bias.weights.h5"));
    const std::string message = mt::error_message([&] { md::load_weights(model, dir.file("no_bias.weights.h5")); });
    CHECK(message.find("Layer 'dense' expected 2 variables, but received 1 variables during loading. Expected: "
                       "['kernel', 'bias']") != std::string::npos);
    CHECK(message.rfind("Cannot load weights from '" + dir.file("no_bias.weights.h5") + "': A total of 1 objects", 0) ==
          0);
    CHECK(unchanged());
  }
  SECTION("a weight shape mismatch: KerasVariable.assign's text") {
    md::Model wider = wh5::tiny(3);
    md::save_weights(wider, dir.file("wider.weights.h5"));
    const std::string message = mt::error_message([&] { md::load_weights(model, dir.file("wider.weights.h5")); });
    CHECK(message.find("The shape of the target variable and the shape of the target value in "
                       "`variable.assign(value)` must match. variable.shape=(3, 2), Received: value.shape=(3, 3). "
                       "Target variable: <Variable path=dense/kernel, shape=(3, 2), dtype=float32> (dataset "
                       "'layers/dense/vars/0')") != std::string::npos);
    CHECK(unchanged());
  }
  SECTION("a float64 dataset where float32 belongs") {
    const std::string f64 = dir.file("f64.weights.h5");
    mt::write_bytes(f64, wh5::decode_fixture(wh5::kKerasFloat64));
    const std::string message = mt::error_message([&] { md::load_weights(model, f64); });
    CHECK(message.find("Dataset 'layers/dense/vars/0' has dtype float64, but variable <Variable path=dense/kernel, "
                       "shape=(3, 2), dtype=float32> needs float32.") != std::string::npos);
    CHECK(unchanged());
  }
  SECTION("a soft link where a group belongs: Keras's refusal") {
    const std::string soft = dir.file("soft.weights.h5");
    mt::write_bytes(soft, wh5::decode_fixture(wh5::kSoftLink));
    CHECK_THROWS_AS(md::load_weights(model, soft), md::ValueError);
    CHECK(mt::error_message([&] { md::load_weights(model, soft); }) ==
          "Cannot load weights from '" + soft + "': 'layers/dense' is a soft link: Not allowed: H5 file with SoftLink");
    CHECK(unchanged());
  }
  SECTION("several failing layers are all listed") {
    const auto make_two = [](int64_t units) {
      const md::Tensor x = md::Input({3}, "x");
      const md::Tensor h = md::layers::Dense({.units = units, .name = "dense"})(x);
      return md::Model(x, md::layers::Dense({.units = 2, .name = "extra"})(h), "two");
    };
    md::Model saved = make_two(4);
    md::save_weights(saved, dir.file("two.weights.h5"));
    md::Model target = make_two(5);
    const std::string message = mt::error_message([&] { md::load_weights(target, dir.file("two.weights.h5")); });
    CHECK(message.find("A total of 2 objects could not be loaded. Example error message for object <Dense "
                       "name=dense, built=True>:") != std::string::npos);
    CHECK(message.find("List of objects that could not be loaded:\n[<Dense name=dense, built=True>, <Dense "
                       "name=extra, built=True>]") != std::string::npos);
  }
  SECTION("a model that was never built") {
    md::Sequential lazy({md::layers::Dense({.units = 2})}, "lazy");
    const std::string path = dir.file("lazy.weights.h5");
    CHECK(mt::error_message([&] {
            md::save_weights(lazy, path);
          }).find("You are saving a model that has not yet been built.") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(path));
    CHECK(mt::error_message([&] {
            md::load_weights(lazy, good);
          }).find("You are loading weights into a model that has not yet been built.") != std::string::npos);
  }
}

TEST_CASE("weights_h5: truncated and byte-flipped files fail cleanly and leave the weights unchanged",
          "[models][weights_h5][errors]") {
  mt::TempDir dir;
  md::Model source = mt::everything();
  mt::fill_weights(source, 31);
  const std::string good = dir.file("good.weights.h5");
  md::save_weights(source, good);
  const std::string bytes = mt::read_text(good);
  REQUIRE(bytes.size() > 1000);

  md::Model target = mt::everything();
  mt::fill_weights(target, 32);
  const std::vector<md::Tensor> before = target.get_weights();
  const std::string bad = dir.file("bad.weights.h5");
  const std::string prefix = "Cannot load weights from '" + bad + "': ";

  SECTION("truncated copies") {
    for (size_t keep : {size_t{8}, size_t{47}, size_t{200}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
      INFO("kept " << keep << " of " << bytes.size() << " bytes");
      mt::write_bytes(bad, bytes.substr(0, keep));
      CHECK_THROWS_AS(md::load_weights(target, bad), md::IOError);
      const std::string message = mt::error_message([&] { md::load_weights(target, bad); });
      CHECK(message.rfind(prefix, 0) == 0);
      if (keep > 47) CHECK(message.find("the file is truncated or corrupted") != std::string::npos);
      CHECK(mt::same_weights(target.get_weights(), before));
    }
  }
  SECTION("a damaged signature and a damaged superblock") {
    std::string flipped = bytes;
    flipped[0] = static_cast<char>(flipped[0] ^ 0xff);
    mt::write_bytes(bad, flipped);
    CHECK(mt::error_message([&] { md::load_weights(target, bad); }) ==
          prefix + "not an HDF5 file (no HDF5 signature found).");
    flipped = bytes;
    flipped[20] = static_cast<char>(flipped[20] ^ 0x10);  // the base address, under the superblock's checksum
    mt::write_bytes(bad, flipped);
    const std::string message = mt::error_message([&] { md::load_weights(target, bad); });
    CHECK(message.rfind(prefix + "the file is truncated or corrupted", 0) == 0);
    CHECK(mt::same_weights(target.get_weights(), before));
  }
}

TEST_CASE("weights_h5: flipped bytes in minidl's and Keras's files never crash or half-load",
          "[models][weights_h5][errors]") {
  // HDF5 checksums the metadata of the files minidl writes (superblock, object headers), not the
  // raw data, and never reads some bytes (free space, the heap holding the groups' name
  // attributes): a flip there loads, with at most the one float it landed in changed. The
  // h5py-written fixture has no checksums at all: a flip in a dataset's address loads other
  // bytes, but must still fail cleanly or load, never crash or load half.
  mt::TempDir dir;
  md::Model target = wh5::keras_small();
  mt::fill_weights(target, 61);
  const std::vector<md::Tensor> before = target.get_weights();
  const std::string bad = dir.file("bad.weights.h5");

  md::Model source = wh5::keras_small();
  mt::fill_weights(source, 62);
  md::save_weights(source, dir.file("ours.weights.h5"));
  const std::string keras_bytes = wh5::decode_fixture(wh5::kKerasSmall);
  mt::write_bytes(dir.file("keras.weights.h5"), keras_bytes);
  md::Model keras_values = wh5::keras_small();
  md::load_weights(keras_values, dir.file("keras.weights.h5"));

  struct Case {
    std::string name, bytes;
    std::vector<md::Tensor> intact;
    size_t stride;
    bool checksummed;
  };
  for (const Case& c : {Case{"minidl", mt::read_text(dir.file("ours.weights.h5")), source.get_weights(), 13, true},
                        Case{"keras", keras_bytes, keras_values.get_weights(), 37, false}}) {
    size_t failed = 0, loaded = 0;
    // Every byte of the superblock and the root group's header, then a sample.
    for (size_t pos = 0; pos < c.bytes.size(); pos += pos < 512 ? 1 : c.stride) {
      std::string flipped = c.bytes;
      flipped[pos] = static_cast<char>(flipped[pos] ^ 0x5a);
      mt::write_bytes(bad, flipped);
      try {
        md::load_weights(target, bad);
        ++loaded;
        size_t changed = 0;
        const std::vector<md::Tensor> got = target.get_weights();
        for (size_t i = 0; i < got.size(); ++i) {
          const std::vector<float> a = got[i].to_vector(), b = c.intact[i].to_vector();
          for (size_t k = 0; k < a.size(); ++k) changed += std::memcmp(&a[k], &b[k], sizeof(float)) != 0 ? 1 : 0;
        }
        if (c.checksummed && changed > 1)
          FAIL_CHECK(c.name << ": byte " << pos << " flipped loaded " << changed << " changed values");
        target.set_weights(before);
      } catch (const md::Error& e) {
        ++failed;
        if (std::string(e.what()).rfind("Cannot load weights from '" + bad + "': ", 0) != 0) {
          FAIL_CHECK(c.name << ": byte " << pos << ": " << e.what());
        }
        if (!mt::same_weights(target.get_weights(), before)) {
          FAIL_CHECK(c.name << ": a failed load changed the weights (byte " << pos << ")");
        }
      }
    }
    INFO(c.name << ": " << failed << " flips failed, " << loaded << " loaded");
    CHECK(failed > 0);
  }
}

TEST_CASE("weights_h5: saving replaces the file atomically and leaves no temporary files",
          "[models][weights_h5][atomic]") {
  mt::TempDir dir;
  const std::string path = dir.file("model.weights.h5");
  md::Model model = wh5::tiny();
  mt::fill_weights(model, 41);
  md::save_weights(model, path);
  const std::string first = mt::read_text(path);
  mt::fill_weights(model, 42);
  md::save_weights(model, path);  // over an existing file
  CHECK(mt::read_text(path) != first);
  md::Model check = wh5::tiny();
  md::load_weights(check, path);
  CHECK(mt::same_weights(check.get_weights(), model.get_weights()));

  // A save that fails leaves the old file as it was.
  const std::string second = mt::read_text(path);
  md::Sequential lazy({md::layers::Dense({.units = 2})});
  CHECK_THROWS_AS(md::save_weights(lazy, path), md::ValueError);
  CHECK(mt::read_text(path) == second);
  const std::string nowhere = dir.file("no_such_dir/model.weights.h5");
  CHECK_THROWS_AS(md::save_weights(model, nowhere), md::IOError);
  CHECK(mt::error_message([&] { md::save_weights(model, nowhere); }).find(nowhere) != std::string::npos);

  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) names.push_back(entry.path().filename());
  CHECK(names == std::vector<std::string>{"model.weights.h5"});
}
