// The two sizes devapi-bench knows (--size standard|tiny).
#include "suite.h"

namespace devapi_bench {

Sizes Standard() {
  return Sizes{1024,
               32,
               2.0,
               {1, 4, 16, 64},
               {1, 16},
               2.0,
               {{1, 1000}, {10, 1000}, {100, 100}, {1000, 10}, {10, 0}, {100, 0}},
               3.0,
               100,
               100,
               4.0,
               100};
}

Sizes Tiny() {
  return Sizes{16, 4, 0.15, {1, 2}, {1, 2}, 0.15, {{1, 200}, {3, 200}, {3, 0}}, 0.2, 3, 200, 0.2, 3};
}

}  // namespace devapi_bench
