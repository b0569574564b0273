// The checkpoints of docs/FORMAT.md's worked examples ("A checkpoint file" and "A version 2
// checkpoint file"), shared by the codec tests and the document's example test.
#pragma once

#include <cstddef>

#include "lss/recovery/checkpoint.h"

namespace llama::checkpoint_examples {

// Store 0x1122334455667788, sequence 42, one page with a two-record chain, state "hi".
inline CheckpointData Version1() {
  CheckpointData d;
  d.store_id = 0x1122334455667788;
  d.sequence = 42;
  d.scan_start = LssAddress::Make(3, 0x40);
  d.oldest_segment = 2;
  d.pages = {{.pid = 5, .chain = {{LssAddress::Make(3, 0x20), 0x30}, {LssAddress::Make(2, 0x100), 0x80}}}};
  d.application_state = {std::byte{'h'}, std::byte{'i'}};
  return d;
}

// The same, written by a store that asked for auto and got io_uring.
inline CheckpointData Version2() {
  CheckpointData d = Version1();
  d.settings = CheckpointSettings{.io_backend_requested = 0,
                                  .io_backend_in_use = 1,
                                  .io_fell_back = false,
                                  .compression_level = 3,
                                  .flush_buffer_size = 1u << 20,
                                  .flush_buffers = 4,
                                  .max_disk_chain = 8};
  return d;
}

}  // namespace llama::checkpoint_examples
