#pragma once

namespace taskpool::test {

/// Built with AddressSanitizer or ThreadSanitizer: they reserve terabytes of
/// address space and hold freed memory in quarantine, so limits on address space
/// and measures of resident memory do not mean what they mean in a real build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool memory_is_instrumented = true;
#else
inline constexpr bool memory_is_instrumented = false;
#endif

}  // namespace taskpool::test
