// RAII around libbpf objects: a bpftool skeleton (through the static members bpftool emits into
// every C++-compiled skeleton: T::open, T::load, T::destroy) and a bpf_link.
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <string>

#include "guardrail/util/result.hpp"

namespace guardrail {

template <typename T>
class BpfSkeleton {
 public:
  // Opens the embedded object; maps and .rodata may be adjusted before load().
  static Result<BpfSkeleton> open(const std::string& what) {
    T* skel = T::open();
    if (!skel) return fail_errno("open BPF object " + what, errno);
    return BpfSkeleton(skel, what);
  }

  Result<void> load() {
    if (int err = T::load(skel_.get()))
      return fail_errno("load BPF object " + what_ +
                            " (run as root; see `guardrail probe` for what this kernel refuses)",
                        err);
    return {};
  }

  T* operator->() const { return skel_.get(); }
  T* get() const { return skel_.get(); }

 private:
  struct Destroy {
    void operator()(T* skel) const { T::destroy(skel); }
  };
  BpfSkeleton(T* skel, std::string what) : skel_(skel), what_(std::move(what)) {}

  std::unique_ptr<T, Destroy> skel_;
  std::string what_;
};

struct BpfLinkDestroy {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
// Destroying the link detaches the program (unless the link was pinned).
using BpfLink = std::unique_ptr<bpf_link, BpfLinkDestroy>;

}  // namespace guardrail
