// Built against the installed minidl package by the test suite: includes the umbrella header,
// links minidl::minidl, and checks that real work happens. It is compiled with the warning flags
// users commonly turn on (CMakeLists.txt), as errors, so the public headers stay clean for them,
// and it defines a layer of its own, as a user would.
#include <minidl/minidl.h>

#include <cmath>

namespace md = minidl;

// A user layer in one class: y = x * factor, with a trainable factor per feature.
class Scale : public md::LayerOf<Scale> {
 public:
  explicit Scale(std::string name = {}) : LayerOf("Scale", std::move(name)) {}

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    state_->factor = add_weight("factor", {input_shape.shape().back()}, "ones");
  }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {args.input() * state_->factor.value()};
  }

 private:
  struct State {
    md::Variable factor;
  };
  md::Shared<State> state_;
};
MINIDL_REGISTER_LAYER(Scale);

int main() {
  md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  md::Tensor b = md::Tensor::from_vector({1, 0, 0, 1, 1, 1}, {3, 2});
  md::Tensor c = md::compute::matmul(a, b);  // [[4, 5], [10, 11]]
  fmt::print("{}\n", c);
  const std::vector<float> expected = {4, 5, 10, 11};
  const std::vector<float> got = Scale()(c).to_vector();  // factor starts at ones
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::fabs(got[i] - expected[i]) > 1e-6f) return 1;
  }
  return 0;
}
