#pragma once
// Names every rank of a job agrees on and no other process can predict: rank
// 0 draws them (getrandom), the others get them by broadcast. Collective.

#include <string>

#include "comm/communicator.h"

namespace halorec::comm {

// 16 lower-case hex digits, the same on every rank.
std::string shared_random_hex(Communicator& comm);

}  // namespace halorec::comm
