// Other code initializes MPI first: md::distribution::initialize() must refuse with a clear
// error rather than run on an MPI it did not set up (no MPI_ERRORS_RETURN, no finalize).
// Exit 0 when the error is the expected one.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>
#include <minidl/minidl.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 1;
  try {
    minidl::distribution::initialize();
    std::printf("initialize() accepted an MPI initialized elsewhere\n");
  } catch (const minidl::Error& e) {
    const std::string expected =
        "md::distribution::initialize(): MPI was already initialized by other code (MPI_Init). Let minidl "
        "initialize it: call md::distribution::initialize() instead of MPI_Init, before any other MPI use.";
    std::printf("%s\n", e.what());
    rc = e.what() == expected ? 0 : 1;
  }
  MPI_Finalize();
  return rc;
}
