#include "control/stream_engine.hpp"
