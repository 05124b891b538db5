// The data-parallel tests' program: CTest runs it under mpirun at 2 and 4 processes (label mpi,
// tests/CMakeLists.txt) and once on its own. Every process runs the same Catch2 tests in the same
// order, so their collectives meet; a process whose check fails makes mpirun exit non-zero.
#define CATCH_CONFIG_RUNNER
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

int main(int argc, char** argv) {
  minidl::distribution::initialize();
  return Catch::Session().run(argc, argv);
}
