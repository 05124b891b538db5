// Compiled by the layering tests (tests/CMakeLists.txt) against one folder's include tree with
// PROBE_HEADER set to a header of a folder above it, or of a folder it may see (the control).
// The first must fail to compile, the control must compile.
#include PROBE_HEADER

int main() { return 0; }
