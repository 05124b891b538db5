#pragma once
// Embedding: maps integer indices to rows of a trainable (input_dim, output_dim) matrix
// (Keras's Embedding).
//   md::layers::Embedding emb({.input_dim = 1000, .output_dim = 64, .mask_zero = true});
//   md::Tensor y = emb(ids);        // ids (B, T) of integers -> (B, T, 64)
//   y.keras_mask();                 // with mask_zero: ids != 0, read by later layers
// Indices may arrive as int32 or float32 tensors (float values are truncated, as Keras casts
// them to int32); an index outside [0, input_dim) is an IndexError.
#include <memory>
#include <string>

#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct EmbeddingOptions {
  int64_t input_dim = 0;   // vocabulary size: largest index + 1
  int64_t output_dim = 0;  // embedding width
  Initializer embeddings_initializer = "uniform";  // RandomUniform(-0.05, 0.05)
  RegularizerArg embeddings_regularizer{};
  RegularizerArg activity_regularizer{};
  ConstraintArg embeddings_constraint{};
  bool mask_zero = false;  // index 0 is padding: compute_mask gives ids != 0
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Embedding : public LayerOf<Embedding> {
 public:
  using Options = EmbeddingOptions;
  explicit Embedding(const EmbeddingOptions& options);
  static Embedding from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return options_.mask_zero; }
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;

  // The (input_dim, output_dim) matrix; AttributeError before the layer is built.
  const Variable& embeddings() const;
  const EmbeddingOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  EmbeddingOptions options_;
  struct State {
    Variable embeddings;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
