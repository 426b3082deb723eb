// devicectl: a kubectl-like command line for the Device API server. The logic lives in src/cli/.
#include <iostream>

#include "cli/app.h"

int main(int argc, char** argv) { return deviceapi::cli::Run(argc, argv, std::cout, std::cerr); }
