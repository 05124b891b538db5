// Compiled by the layering tests with the flags of a folder above core/backend: without
// -fopenmp, a parallel loop is an unknown pragma, which -Werror makes an error. Parallel loops
// belong in core/backend.
void zero(float* x, int n) {
#pragma omp parallel for
  for (int i = 0; i < n; ++i) x[i] = 0.0f;
}

int main() { return 0; }
