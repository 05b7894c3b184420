#include "comm/shared_name.h"

#include <ATen/ATen.h>

#include <fmt/format.h>

#include <cstdint>

#include "core/staged_path.h"

namespace halorec::comm {

std::string shared_random_hex(Communicator& comm) {
  at::Tensor t = at::zeros({1}, at::kLong);
  if (comm.rank() == 0) {
    const uint64_t v = std::stoull(random_hex(8), nullptr, 16);
    t.fill_(static_cast<int64_t>(v));
  }
  t = t.to(comm.device());
  comm.broadcast(t, 0);
  return fmt::format("{:016x}", static_cast<uint64_t>(t.cpu().item<int64_t>()));
}

}  // namespace halorec::comm
