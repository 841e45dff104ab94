# bpf_skeleton(NAME SOURCE [DEPENDS header...])
#
# Compiles SOURCE with clang's BPF target into NAME.bpf.o, generates NAME.skel.h with
# `bpftool gen skeleton`, and exposes both through the INTERFACE target NAME_skel. The shared
# header and vmlinux.h are listed as dependencies so that editing them rebuilds the object.
find_program(BPF_CLANG NAMES clang clang-19 clang-16 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(GUARDRAIL_BPF_ARCH x86)
set(GUARDRAIL_VMLINUX_DIR ${PROJECT_SOURCE_DIR}/vmlinux)
set(GUARDRAIL_BPF_SKEL_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${GUARDRAIL_BPF_SKEL_DIR})

function(bpf_skeleton name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(obj ${GUARDRAIL_BPF_SKEL_DIR}/${name}.bpf.o)
  set(skel ${GUARDRAIL_BPF_SKEL_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${GUARDRAIL_BPF_ARCH}
            -Wall -Werror -I${GUARDRAIL_VMLINUX_DIR} -I${PROJECT_SOURCE_DIR}/bpf
            -c ${source} -o ${obj}
    DEPENDS ${source} ${ARG_DEPENDS} ${GUARDRAIL_VMLINUX_DIR}/vmlinux.h
            ${GUARDRAIL_VMLINUX_DIR}/${GUARDRAIL_BPF_ARCH}/vmlinux.h
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${GUARDRAIL_BPF_SKEL_DIR})
endfunction()

# `cmake --build build --target vmlinux` regenerates the committed vmlinux.h from this kernel.
add_custom_target(vmlinux
  COMMAND ${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c
          > ${GUARDRAIL_VMLINUX_DIR}/${GUARDRAIL_BPF_ARCH}/vmlinux.h
  COMMENT "regenerating vmlinux/${GUARDRAIL_BPF_ARCH}/vmlinux.h from /sys/kernel/btf/vmlinux"
  VERBATIM)
