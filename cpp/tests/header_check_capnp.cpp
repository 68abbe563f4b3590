// framebridge/typed_capnp.hpp compiles on its own (with exceptions, which Cap'n Proto needs).
#include "framebridge/typed_capnp.hpp"
