# Makefile for autograd.h (GNU make).
#
#   make test       build every tests/test_*.c (one binary each, in build/) and run them all;
#                   the last line is `N passed, N failed`
#   make demo       build and run examples/neuron.c, then examples/xor.c
#   make examples   build every examples/*.c into build/examples/
#   make check      ASan+UBSan (gcc), clang -Werror build, C++11 build, valgrind on
#                   test_memory, test_replay and test_forward, TSan on test_threads, -Werror header-only compiles,
#                   the tests with each x86 kernel set forced (AG_SIMD=scalar|avx2),
#                   the NEON kernels (tests cross-built for aarch64, run under qemu),
#                   the implementation under gcc -Ofast and everything in GNU C at -O3 -march=native
#                   (gcc and clang), 20 s libFuzzer runs of the safetensors loader and the whole API,
#                   every test under node as WebAssembly (scalar and SIMD128), under qemu-arm (armhf) and
#                   for Windows (mingw-w64) under wine,
#                   the browser page (check-web) and the Cortex-M build (check-cortex-m)
#   make web        examples/web/ compiled to WebAssembly (emcc): build/web/index.html, one self-contained
#                   page that trains a small network live and draws a neuron's graph
#   make check-web  (part of make check) the page's C natively and under node, then in headless Chromium:
#                   training must finish with a small finite loss; writes build/web/screenshot.png
#   make check-cortex-m  (part of make check) tests/mcu/xor_mcu.c, an XOR trainer under AG_FREESTANDING on a
#                   static pool, built for Cortex-M4 and Cortex-M55 with arm-none-eabi-gcc -O2 and newlib-nano
#                   and run under qemu-system-arm (semihosting); its loss hash must equal the native
#                   build's; prints text/data/bss, and fails if malloc, printf, getenv or assert is linked;
#                   again with -DAG_NO_F64 (F32 only); and the self-tests tests/test_errors.c and
#                   tests/test_no_f64.c on the M4 and the M55
#   make check-windows  the tests cross-built with mingw-w64 (Win32 thread pool, AVX2/AVX-512) and run
#                   under wine; part of make check
#   make check-m32  the tests for 32-bit x86 (SSE2), and x87 refused (needs libc6-dev-i386 and
#                   lib32gcc-12-dev, which Debian 12 cannot install beside the aarch64 cross compiler)
#   make bench      autograd.h side by side with OpenBLAS and PyTorch; writes bench/RESULTS.md
#   make clean
#
# The tools `make check` uses (clang, g++, valgrind, aarch64-linux-gnu-gcc, qemu-aarch64, emcc,
# node, chromium, python3, arm-linux-gnueabihf-gcc, qemu-arm, arm-none-eabi-gcc with
# libnewlib-arm-none-eabi, qemu-system-arm, x86_64-w64-mingw32-gcc, wine)
# must be installed: .ci/run does it.
# A missing tool is an error, not a skip.

ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(origin CXX),default)
CXX := g++
endif
CLANG    ?= clang
VALGRIND ?= valgrind

CSTD      := -std=c99
WARN      := -Wall -Wextra -pedantic -Werror
CFLAGS    ?= -O2
ALLCFLAGS := $(CSTD) $(CFLAGS) $(WARN) -I.
LDLIBS    := -lm -lpthread
ZLIB_EXAMPLES  := fashion_mnist_mlp fashion_mnist_cnn   # they read the dataset's .gz files with zlib; the others need libc and libm only

SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -g -O1
TSAN_FLAGS := -fsanitize=thread -g -O1
CXXFLAGS_CHECK := -x c++ -std=c++11 -Wall -Wextra -Werror -I.
VALGRIND_FLAGS := --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible -q

BUILD := build
HEADERS := autograd.h tests/harness.h tests/refdata.h

AARCH64_CC ?= aarch64-linux-gnu-gcc
QEMU_AARCH64 ?= qemu-aarch64
WIN_CC ?= x86_64-w64-mingw32-gcc
# Debian's wine64 package installs /usr/lib/wine/wine64, off PATH (the wine package adds wrappers)
WINE ?= $(or $(wildcard /usr/lib/wine/wine64),wine64)

TEST_SRCS    := $(sort $(wildcard tests/test_*.c))
TEST_NAMES   := $(patsubst tests/%.c,%,$(TEST_SRCS))
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLE_NAMES:= $(patsubst examples/%.c,%,$(EXAMPLE_SRCS))

TEST_BINS    := $(addprefix $(BUILD)/,$(TEST_NAMES))
ASAN_BINS    := $(addprefix $(BUILD)/asan/,$(TEST_NAMES))
CLANG_BINS   := $(addprefix $(BUILD)/clang/,$(TEST_NAMES))
EXAMPLE_BINS := $(addprefix $(BUILD)/examples/,$(EXAMPLE_NAMES))

# `make check` compiles and runs every test as C++11 too, together with tests/cpp_smoke.cpp,
# and compiles every example as C++. CXX_SKIP lists the test files that are not
# C++-clean, with the reason:
#   test_gradcheck.c  its case table leaves trailing struct fields to zero, which g++
#                     -Wextra reports (-Wmissing-field-initializers); valid C99.
CXX_SKIP      := tests/test_gradcheck.c
CXX_TEST_SRCS := $(filter-out $(CXX_SKIP),$(TEST_SRCS))
CXX_TEST_BINS := $(BUILD)/cxx/cpp_smoke $(patsubst tests/%.c,$(BUILD)/cxx/%,$(CXX_TEST_SRCS))
CXX_EXAMPLE_OBJS := $(patsubst examples/%.c,$(BUILD)/cxx/examples/%,$(EXAMPLE_SRCS))

RUN_ALL := bash tests/run_all.sh

# ---- build flavours --------------------------------------------------------
# A flavour is a directory and the compile command of everything in it: the plain build in
# build/ (with your CFLAGS), and build/asan, build/clang, ... for `make check`.
#
# The implementation takes seconds to compile and a test file a fraction of one, so each
# flavour compiles it once, from tests/autograd_impl.c, into DIR/autograd_impl.o, and links
# that into every test. A test with its own `#define AUTOGRAD_IMPLEMENTATION` line is built
# on its own instead (STANDALONE): tests/test_simd_math.c, which calls the implementation's
# internal static ag__ functions.
#
# DIR/flags holds the flavour's command line and is rewritten only when it differs: its
# recipe always runs (FORCE; `+` runs it under make -n too, so a dry run tells the truth),
# then make sees whether the file changed. Everything in DIR depends on it, so
# `make test CFLAGS=...` rebuilds the tests instead of rerunning the old binaries.
# (The C++ flavour's -x c++ would apply to the object file too: -x none ends it; emcc cannot take
# -x none, so only a flavour with -x c++ gets it.)
STANDALONE := $(patsubst tests/%.c,%,$(shell grep -lx '.define AUTOGRAD_IMPLEMENTATION' $(TEST_SRCS)))
sq = $(subst ','\'',$(1))

# $(call flavour,DIR,COMPILE[,IMPL_COMPILE[,LINK[,EXE]]]): the rules of one flavour; COMPILE is the
# compiler and its flags; IMPL_COMPILE, if given, compiles the implementation instead (a library built
# with flags the tests themselves cannot use, as -Ofast, whose test code could not check for NaN);
# LINK, flags for linking only (Emscripten's -s settings); EXE, the binaries' suffix (.exe for
# Windows, which mingw's gcc adds to -o names by itself)
define flavour
$(1)/flags: FORCE
	+@mkdir -p $$(@D); printf '%s\n' '$(call sq,$(2) $(3) $(LDLIBS) $(4))' | cmp -s - $$@ || printf '%s\n' '$(call sq,$(2) $(3) $(LDLIBS) $(4))' > $$@
# rm -f first: a failed compile must not leave last time's binary behind to be run; for the
# implementation, that is every binary linked with it.
$(1)/autograd_impl.o: tests/autograd_impl.c autograd.h $(1)/flags
	@rm -f $$@ $(addsuffix $(5),$(filter-out $(addprefix $(1)/,$(STANDALONE)),$(addprefix $(1)/,$(TEST_NAMES))))
	$(if $(3),$(3),$(2)) -c $$< -o $$@
$(addsuffix $(5),$(addprefix $(1)/,$(STANDALONE))): $(1)/%$(5): tests/%.c $(HEADERS) $(1)/flags
	@rm -f $$@
	$(2) $$< -o $$@ $(LDLIBS) $(4)
$(1)/%$(5): tests/%.c $(HEADERS) $(1)/autograd_impl.o $(1)/flags
	@rm -f $$@
	$(2) $$< $(if $(findstring -x c++,$(2)),-x none) $(1)/autograd_impl.o -o $$@ $(LDLIBS) $(4)
endef

$(eval $(call flavour,$(BUILD),$(CC) $(ALLCFLAGS)))
$(eval $(call flavour,$(BUILD)/asan,$(CC) $(CSTD) $(SAN_FLAGS) $(WARN) -I.))
$(eval $(call flavour,$(BUILD)/clang,$(CLANG) $(CSTD) -O2 $(WARN) -I.))
$(eval $(call flavour,$(BUILD)/cxx,$(CXX) $(CXXFLAGS_CHECK) -O2))
$(eval $(call flavour,$(BUILD)/valgrind,$(CC) $(CSTD) -O1 -g $(WARN) -I.))
$(eval $(call flavour,$(BUILD)/tsan,$(CLANG) $(CSTD) $(TSAN_FLAGS) $(WARN) -I.))
$(eval $(call flavour,$(BUILD)/neon,$(AARCH64_CC) $(CSTD) -O2 $(WARN) -static -I.))
# how users build: the implementation with gcc -Ofast, and everything in GNU C with FMA contraction
# on (gcc's default -ffp-contract=fast) for this CPU, with gcc and clang
$(eval $(call flavour,$(BUILD)/ofast,$(CC) $(CSTD) -O2 $(WARN) -I.,$(CC) $(CSTD) -Ofast $(WARN) -I.))
$(eval $(call flavour,$(BUILD)/gnu-gcc,$(CC) -std=gnu11 -O3 -march=native $(WARN) -I.))
$(eval $(call flavour,$(BUILD)/gnu-clang,$(CLANG) -std=gnu11 -O3 -march=native $(WARN) -I.))
# Windows: mingw-w64, linked -static so that wine needs no mingw DLLs (the library itself uses Win32
# threads; -lpthread is winpthreads, for test_threads's own threads and the tests' clock_gettime)
$(eval $(call flavour,$(BUILD)/win,$(WIN_CC) $(CSTD) -O2 $(WARN) -static -I.,,,.exe))

# WebAssembly (Emscripten; Debian's emcc needs NODE_PATH): each test is a .js beside its .wasm, run
# by node with the host's files (NODERAWFS) and memory that grows to 4 GB, malloc returning NULL after
EMCC     ?= emcc
NODE     ?= node
EMCC_RUN := NODE_PATH=/usr/share/nodejs $(EMCC)
WASM_LINK := -sNODERAWFS=1 -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB -sABORTING_MALLOC=0 -sEXIT_RUNTIME=1
$(eval $(call flavour,$(BUILD)/wasm,$(EMCC_RUN) $(CSTD) -O2 $(WARN) -I.,,$(WASM_LINK)))
$(eval $(call flavour,$(BUILD)/wasm-simd,$(EMCC_RUN) $(CSTD) -O2 -msimd128 $(WARN) -I.,,$(WASM_LINK)))
# with -pthread (Emscripten's pthreads on workers: the thread pool is compiled in): workers are
# started before main (PTHREAD_POOL_SIZE), since a thread made later starts only when main yields
WASM_MT_LINK := -sNODERAWFS=1 -sINITIAL_MEMORY=512MB -sPTHREAD_POOL_SIZE=8 -sABORTING_MALLOC=0 -sEXIT_RUNTIME=1
$(eval $(call flavour,$(BUILD)/wasm-mt,$(EMCC_RUN) $(CSTD) -O2 -msimd128 -pthread $(WARN) -I.,,$(WASM_MT_LINK)))

.PHONY: all test demo examples check bench clean check-tools FORCE check-flags check-m32 web check-web check-wasm check-armhf check-cortex-m check-targets \
        check-header check-asan check-clang check-cxx check-valgrind check-tsan check-windows \
        test-bins asan-bins clang-bins cxx-bins

all: test-bins examples

# ---- make test -------------------------------------------------------------
# `make -k` keeps going past a test file that does not compile; run_all.sh then
# counts its missing binary as one failure, so the summary line is always printed.
test:
	@$(MAKE) --no-print-directory -k test-bins || true
	@$(RUN_ALL) $(TEST_BINS)

test-bins: $(TEST_BINS)

# ---- examples / demo -------------------------------------------------------
examples: $(EXAMPLE_BINS)

$(BUILD)/examples/%: examples/%.c autograd.h $(BUILD)/flags | $(BUILD)/examples
	@rm -f $@
	$(CC) $(ALLCFLAGS) $< -o $@ $(LDLIBS) $(if $(filter $*,$(ZLIB_EXAMPLES)),-lz)

demo: $(BUILD)/examples/neuron $(BUILD)/examples/xor $(BUILD)/examples/neuron_graph
	./$(BUILD)/examples/neuron
	./$(BUILD)/examples/xor
	./$(BUILD)/examples/neuron_graph

# ---- make check ------------------------------------------------------------
# Runs every part even if an earlier one fails, then says which failed.
CHECK_PARTS := check-header check-asan check-clang check-cxx check-valgrind check-tsan check-paths check-neon check-flags check-fuzz check-char-rnn \
               check-wasm check-armhf check-windows check-web check-cortex-m check-targets

check: check-tools
	@failed=; \
	for part in $(CHECK_PARTS); do \
	  echo "==== make $$part ===="; \
	  $(MAKE) --no-print-directory $$part || failed="$$failed $$part"; \
	done; \
	if [ -n "$$failed" ]; then echo "make check: FAILED:$$failed"; exit 1; fi; \
	echo "make check: all parts passed"

check-tools:
	@for tool in $(CC) $(CXX) $(CLANG) $(VALGRIND) $(EMCC) $(NODE) $(CHROMIUM) python3 $(ARMHF_CC) $(QEMU_ARMHF) $(ARM_CC) $(QEMU_ARM) $(WIN_CC) $(WINE); do \
	  command -v $$tool >/dev/null 2>&1 || { echo "make check: '$$tool' not found (.ci/run installs it)" >&2; exit 1; }; \
	done

# (f) the header alone, as a C99 translation unit, with gcc and clang: declarations only,
#     with the implementation, and with the implementation + AUTOGRAD_STATIC (where every
#     function the TU does not call must not warn); and the implementation as C++11.
#     Every variant runs; a failing one shows its first 20 lines of diagnostics.
# the parts AG_NO_* drops, alone and together (every combination), each with AUTOGRAD_STATIC so that
# a helper only a dropped part used shows up as an unused function
ALL_CUTS := -DAG_NO_SAFETENSORS+-DAG_NO_FUNCTIONAL+-DAG_NO_LAYERS
HEADER_CUTS := -DAG_NO_SAFETENSORS -DAG_NO_FUNCTIONAL -DAG_NO_LAYERS -DAG_NO_SAFETENSORS+-DAG_NO_FUNCTIONAL \
  -DAG_NO_SAFETENSORS+-DAG_NO_LAYERS -DAG_NO_FUNCTIONAL+-DAG_NO_LAYERS $(ALL_CUTS) \
  -DAG_NO_SIMD+-DAG_NO_THREADS+$(ALL_CUTS) -DAG_NO_STDIO -DAG_FREESTANDING -DAG_FREESTANDING+$(ALL_CUTS) \
  -DAG_NO_F64 -DAG_NO_F64+-DAG_FREESTANDING -DAG_NO_F64+-DAG_FREESTANDING+$(ALL_CUTS)
HEADER_VARIANTS := \
  "$(CC) $(CSTD) -O2 $(WARN) -x c -c autograd.h -o /dev/null" \
  "$(CC) $(CSTD) -O2 $(WARN) -x c -c -DAUTOGRAD_IMPLEMENTATION autograd.h -o /dev/null" \
  "$(CC) $(CSTD) -O2 $(WARN) -x c -c -DAUTOGRAD_IMPLEMENTATION -DAUTOGRAD_STATIC autograd.h -o /dev/null" \
  "$(CLANG) $(CSTD) -O2 $(WARN) -x c -c autograd.h -o /dev/null" \
  "$(CLANG) $(CSTD) -O2 $(WARN) -x c -c -DAUTOGRAD_IMPLEMENTATION autograd.h -o /dev/null" \
  "$(CLANG) $(CSTD) -O2 $(WARN) -x c -c -DAUTOGRAD_IMPLEMENTATION -DAUTOGRAD_STATIC autograd.h -o /dev/null" \
  "$(CXX) -std=c++11 -O2 -Wall -Wextra -Werror -x c++ -c -DAUTOGRAD_IMPLEMENTATION autograd.h -o /dev/null" \
  $(foreach cut,$(HEADER_CUTS),"$(CC) $(CSTD) -O1 $(WARN) -x c -c -DAUTOGRAD_IMPLEMENTATION -DAUTOGRAD_STATIC $(subst +, ,$(cut)) autograd.h -o /dev/null") \
  "$(CLANG) $(CSTD) -O1 $(WARN) -x c -c -DAUTOGRAD_IMPLEMENTATION $(subst +, ,$(ALL_CUTS)) autograd.h -o /dev/null" \
  "$(CXX) -std=c++11 -O1 -Wall -Wextra -Werror -x c++ -c -DAUTOGRAD_IMPLEMENTATION $(subst +, ,$(ALL_CUTS)) autograd.h -o /dev/null" \
  "$(CXX) -std=c++11 -O1 -Wall -Wextra -Werror -x c++ -c -DAUTOGRAD_IMPLEMENTATION -DAG_FREESTANDING autograd.h -o /dev/null" \
  "$(CLANG) $(CSTD) -O1 $(WARN) -x c -c -DAUTOGRAD_IMPLEMENTATION -DAUTOGRAD_STATIC -DAG_NO_F64 autograd.h -o /dev/null" \
  "$(CXX) -std=c++11 -O1 -Wall -Wextra -Werror -x c++ -c -DAUTOGRAD_IMPLEMENTATION -DAG_NO_F64 -DAG_FREESTANDING autograd.h -o /dev/null"

check-header: check-tools | $(BUILD)
	@bad=0; for cmd in $(HEADER_VARIANTS); do \
	  if $$cmd > $(BUILD)/check-header.log 2>&1; then echo "ok    $$cmd"; \
	  else bad=$$((bad + 1)); echo "FAIL  $$cmd"; head -n 20 $(BUILD)/check-header.log | sed 's/^/      /'; \
	    n=$$(wc -l < $(BUILD)/check-header.log); [ "$$n" -le 20 ] || echo "      ... ($$n lines in all)"; fi; \
	done; rm -f $(BUILD)/check-header.log; \
	if [ $$bad -ne 0 ]; then echo "check-header: $$bad variants failed"; exit 1; fi; echo "check-header: all variants compile clean"
	@for f in tests/compile_fail/*.c; do \
	  for cmd in "$(CC) $(CSTD) $(WARN)" "$(CXX) -x c++ -std=c++11 -Wall -Wextra -Werror"; do \
	    if $$cmd -I. -c $$f -o /dev/null 2>/dev/null; then echo "FAIL  $$f compiled with $$cmd: it must not"; exit 1; fi; \
	  done; echo "ok    $$f does not compile (C and C++)"; \
	done
	@bash tests/readme_check.sh $(CC) $(CXX)
	@bash tests/readme_check.sh $(CLANG) $(CLANG)++

# (a) every test under ASan + UBSan (gcc)
check-asan: check-tools
	@$(MAKE) --no-print-directory -k asan-bins || true
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(RUN_ALL) $(ASAN_BINS)

asan-bins: $(ASAN_BINS)

# (b) every test built with clang -Werror, and run
check-clang: check-tools
	@$(MAKE) --no-print-directory -k clang-bins || true
	@$(RUN_ALL) $(CLANG_BINS)

clang-bins: $(CLANG_BINS)

# (c) C++11: the smoke test and the C++-clean tests (built and run), every example (built)
check-cxx: check-tools
	@$(MAKE) --no-print-directory -k cxx-bins || true
	@$(RUN_ALL) $(CXX_TEST_BINS)

cxx-bins: $(CXX_TEST_BINS) $(CXX_EXAMPLE_OBJS)

$(BUILD)/cxx/cpp_smoke: tests/cpp_smoke.cpp $(HEADERS) $(BUILD)/cxx/flags
	@rm -f $@
	$(CXX) $(CXXFLAGS_CHECK) -O2 $< -o $@ $(LDLIBS)

$(BUILD)/cxx/examples/%: examples/%.c autograd.h $(BUILD)/cxx/flags | $(BUILD)/cxx/examples
	@rm -f $@
	$(CXX) $(CXXFLAGS_CHECK) -O2 $< -o $@ $(LDLIBS) $(if $(filter $*,$(ZLIB_EXAMPLES)),-lz)

# (d) test_memory, test_replay and test_forward under valgrind (a plain -O1 -g build: valgrind and
#     ASan do not mix), without their timing loops
VALGRIND_TESTS := $(addprefix $(BUILD)/valgrind/,test_memory test_replay test_forward)   # replay reruns raw kernels: uninitialised reads show here, not under ASan
check-valgrind: check-tools $(VALGRIND_TESTS)
	@AG_TEST_NO_TIMING=1 RUNNER="$(VALGRIND) $(VALGRIND_FLAGS)" $(RUN_ALL) $(VALGRIND_TESTS)

# (e) test_threads under ThreadSanitizer (clang). clang 14's TSan cannot map its shadow
#     memory under the strong ASLR of recent kernels, so it runs with ASLR off when it can.
check-tsan: check-tools $(BUILD)/tsan/test_threads $(BUILD)/tsan/test_kernels
	@if setarch $$(uname -m) -R true 2>/dev/null; then runner="setarch $$(uname -m) -R"; else runner=; fi; \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" RUNNER="$$runner" $(RUN_ALL) $(BUILD)/tsan/test_threads $(BUILD)/tsan/test_kernels

# (g) the library's own tests with each x86 kernel set forced (the scalar path is the reference)
PATH_TESTS := $(BUILD)/test_reference $(BUILD)/test_gradcheck $(BUILD)/test_kernels $(BUILD)/test_optim $(BUILD)/test_special
check-paths: $(PATH_TESTS)
	@for isa in scalar avx2; do echo "---- AG_SIMD=$$isa"; AG_SIMD=$$isa $(RUN_ALL) $(PATH_TESTS) || exit 1; done

# (l) an example beside PyTorch: examples/char_rnn.c from PyTorch's initial weights, each of its first
#     100 losses within 1e-4 of PyTorch's (examples/char_rnn_torch.py wrote both files; needs wamerican)
check-char-rnn: $(BUILD)/examples/char_rnn
	$(BUILD)/examples/char_rnn --init tests/data/char_rnn_init.safetensors --compare tests/data/char_rnn_losses.txt | tail -n 1

# (h) NEON for real: the tests cross-compiled for aarch64 and run under qemu
NEON_TESTS := test_kernels test_reference test_gradcheck test_errors test_simd_math test_optim test_special test_reliability test_layers
NEON_BINS := $(addprefix $(BUILD)/neon/,$(NEON_TESTS))
check-neon: $(NEON_BINS)
	@command -v $(QEMU_AARCH64) >/dev/null || { echo "check-neon: $(QEMU_AARCH64) not found (.ci/run installs qemu-user)"; exit 1; }
	@AG_TEST_STRIDE=4001 RUNNER="$(QEMU_AARCH64)" $(RUN_ALL) $(NEON_BINS)

# (n) 32-bit ARM (armhf: ARMv7, VFPv3-D16 hard float), the tests cross-built and run under qemu-arm
ARMHF_CC ?= arm-linux-gnueabihf-gcc
QEMU_ARMHF ?= qemu-arm
$(eval $(call flavour,$(BUILD)/armhf,$(ARMHF_CC) $(CSTD) -O2 $(WARN) -static -I.))
ARMHF_BINS := $(addprefix $(BUILD)/armhf/,$(TEST_NAMES))
check-armhf: check-tools
	@$(MAKE) --no-print-directory -k $(ARMHF_BINS) || true
	@AG_TEST_STRIDE=4001 RUNNER="$(QEMU_ARMHF)" $(RUN_ALL) $(ARMHF_BINS)

# (o) the same bits on every target: tests/target_hash.c (two training runs, their losses hashed)
#     built for x86-64, aarch64, armhf, Windows and WebAssembly (scalar and SIMD128), run with every kernel
#     set each has, compared by tests/check_targets.sh (i386: check-m32; Cortex-M: check-cortex-m)
TGT := $(BUILD)/targets
$(TGT)/native: tests/target_hash.c autograd.h | $(TGT)
	$(CC) $(CSTD) -O2 $(WARN) -I. $< -o $@ $(LDLIBS)
$(TGT)/aarch64: tests/target_hash.c autograd.h | $(TGT)
	$(AARCH64_CC) $(CSTD) -O2 $(WARN) -static -I. $< -o $@ -lm
$(TGT)/armhf: tests/target_hash.c autograd.h | $(TGT)
	$(ARMHF_CC) $(CSTD) -O2 $(WARN) -static -I. $< -o $@ -lm
$(TGT)/wasm.js: tests/target_hash.c autograd.h | $(TGT)
	$(EMCC_RUN) $(CSTD) -O2 $(WARN) -I. $< -o $@ -sALLOW_MEMORY_GROWTH=1
$(TGT)/wasm-simd.js: tests/target_hash.c autograd.h | $(TGT)
	$(EMCC_RUN) $(CSTD) -O2 -msimd128 $(WARN) -I. $< -o $@ -sALLOW_MEMORY_GROWTH=1
$(TGT)/win.exe: tests/target_hash.c autograd.h | $(TGT)
	$(WIN_CC) $(CSTD) -O2 $(WARN) -static -I. $< -o $@ -lpthread
check-targets: check-tools $(TGT)/native $(TGT)/aarch64 $(TGT)/armhf $(TGT)/wasm.js $(TGT)/wasm-simd.js $(TGT)/win.exe
	@$(WINE_ENV) tests/check_targets.sh "x86-64=$(TGT)/native" "aarch64=$(QEMU_AARCH64) $(TGT)/aarch64" "armhf=$(QEMU_ARMHF) $(TGT)/armhf" \
	  "wasm=$(NODE) --no-experimental-fetch $(TGT)/wasm.js" "wasm=$(NODE) --no-experimental-fetch $(TGT)/wasm-simd.js" \
	  "windows=$(WINE) $(TGT)/win.exe"

# (p) WebAssembly: every test built with Emscripten, without and with SIMD128 (-msimd128: the
#     simd128 kernel set), and the thread pool's tests with -pthread, run under node
WASM_BINS := $(addprefix $(BUILD)/wasm/,$(TEST_NAMES)) $(addprefix $(BUILD)/wasm-simd/,$(TEST_NAMES)) \
             $(BUILD)/wasm-mt/test_kernels $(BUILD)/wasm-mt/test_threads
check-wasm: check-tools
	@$(MAKE) --no-print-directory -k $(WASM_BINS) || true
	@RUNNER="$(NODE) --no-experimental-fetch" $(RUN_ALL) $(WASM_BINS)

# (m) Windows: every test cross-built with mingw-w64 and run under wine, from the repository root
#     (tests/data/... as on Linux), in a wine prefix of its own under build/ (a clean machine, root
#     or not, needs nothing in $HOME); the first run creates it (a few seconds)
WIN_BINS := $(addsuffix .exe,$(addprefix $(BUILD)/win/,$(TEST_NAMES)))
WINE_ENV := WINEPREFIX=$(abspath $(BUILD))/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
check-windows: check-tools
	@$(MAKE) --no-print-directory -k $(WIN_BINS) || true
	@[ -f $(BUILD)/wine/system.reg ] || { mkdir -p $(BUILD)/wine && $(WINE_ENV) $(WINE) wineboot -i > $(BUILD)/wine-boot.log 2>&1; } || \
	  { cat $(BUILD)/wine-boot.log; exit 1; }
	@$(WINE_ENV) RUNNER="$(WINE)" $(RUN_ALL) $(WIN_BINS)

# (j) the flags users build with: the implementation under gcc -Ofast (it switches fast-math off for
#     itself); everything in GNU C (FMA contraction on) at -O3 -march=native with gcc and clang; and
#     clang -Ofast, which cannot switch it off, must stop the build with autograd.h's message
OFAST_BINS := $(addprefix $(BUILD)/ofast/,$(TEST_NAMES))
GNU_BINS   := $(addprefix $(BUILD)/gnu-gcc/,$(TEST_NAMES)) $(addprefix $(BUILD)/gnu-clang/,$(TEST_NAMES))
check-flags: check-tools
	@$(MAKE) --no-print-directory -k $(OFAST_BINS) $(GNU_BINS) || true
	@echo "---- the implementation built with gcc -Ofast"; $(RUN_ALL) $(OFAST_BINS)
	@echo "---- gcc and clang, -std=gnu11 -O3 -march=native"; $(RUN_ALL) $(GNU_BINS)
	@$(CLANG) $(CSTD) -Ofast -I. -c tests/autograd_impl.c -o /dev/null 2> $(BUILD)/fastmath.log && { echo "clang -Ofast built the implementation: it must refuse"; exit 1; } || \
	  grep -q "define AG_ALLOW_FAST_MATH to build anyway" $(BUILD)/fastmath.log && echo "ok    clang -Ofast stops with autograd.h's message" || { cat $(BUILD)/fastmath.log; exit 1; }

# (k) 32-bit x86, not part of `make check`: its libraries (libc6-dev-i386, lib32gcc-12-dev) cannot be
#     installed beside the aarch64 cross compiler on Debian 12, so .ci/run swaps them in after make check.
#     The tests with SSE2 arithmetic, and x87 arithmetic (FLT_EVAL_METHOD 2) stopped with autograd.h's message.
# <asm/errno.h> for i386 is the x86_64 one (gcc-multilib links /usr/include/asm to it, but that
# package conflicts with the aarch64 cross compiler): a private link, searched last
M32_ASM := $(BUILD)/m32-include
$(eval $(call flavour,$(BUILD)/m32,$(CLANG) -m32 -msse2 -mfpmath=sse $(CSTD) -O2 $(WARN) -I. -idirafter $(M32_ASM)))
M32_BINS := $(addprefix $(BUILD)/m32/,$(TEST_NAMES))
check-m32: | $(TGT)
	@mkdir -p $(M32_ASM) && ln -sfn /usr/include/x86_64-linux-gnu/asm $(M32_ASM)/asm
	@$(MAKE) --no-print-directory -k $(M32_BINS) || true
	@$(RUN_ALL) $(M32_BINS)
	$(CLANG) -m32 -msse2 -mfpmath=sse $(CSTD) -O2 $(WARN) -I. -idirafter $(M32_ASM) tests/target_hash.c -o $(TGT)/m32 $(LDLIBS)
	@$(MAKE) --no-print-directory $(TGT)/native
	@tests/check_targets.sh "x86-64=$(TGT)/native" "i386=$(TGT)/m32"
	@$(CLANG) -m32 -mfpmath=387 $(CSTD) -O2 -I. -c tests/autograd_impl.c -o /dev/null 2> $(BUILD)/x87.log && { echo "x87 built the implementation: it must refuse"; exit 1; } || \
	  grep -q "AG_ALLOW_EXCESS_PRECISION" $(BUILD)/x87.log && echo "ok    x87 arithmetic stops with autograd.h's message" || { cat $(BUILD)/x87.log; exit 1; }

# (i) short libFuzzer runs (ASan+UBSan): the safetensors loader from the committed seeds, and the
# whole public API (tests/fuzz_api.c, an interpreter of calls with hostile arguments) from its seeds.
# Longer: make check-fuzz FUZZ_SECONDS=3600
FUZZ_SECONDS ?= 20
check-fuzz: check-tools | $(BUILD)/fuzz
	$(CLANG) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz_safetensors.c -o $(BUILD)/fuzz/fuzz_safetensors $(LDLIBS)
	@rm -rf $(BUILD)/fuzz/corpus && mkdir -p $(BUILD)/fuzz/corpus && cp tests/fuzz_corpus/* $(BUILD)/fuzz/corpus/
	@$(BUILD)/fuzz/fuzz_safetensors -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/fuzz/corpus > $(BUILD)/fuzz/log 2>&1; \
	  rc=$$?; tail -n 8 $(BUILD)/fuzz/log; exit $$rc
	$(CLANG) $(CSTD) -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz_api.c -o $(BUILD)/fuzz/fuzz_api $(LDLIBS)
	@rm -rf $(BUILD)/fuzz/api-corpus && mkdir -p $(BUILD)/fuzz/api-corpus && cp tests/fuzz_api_corpus/* $(BUILD)/fuzz/api-corpus/
	@UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(BUILD)/fuzz/fuzz_api -rss_limit_mb=4096 -timeout=10 -max_total_time=$(FUZZ_SECONDS) \
	  -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/api-corpus > $(BUILD)/fuzz/api-log 2>&1; \
	  rc=$$?; grep -E "ERROR|runtime error|SUMMARY|^stat::number_of_executed_units" $(BUILD)/fuzz/api-log | head -n 8; exit $$rc

# ---- the browser page ------------------------------------------------------
# examples/web/web.c compiled by Emscripten into one JS file with the wasm inside it as base64
# (SINGLE_FILE), compiled synchronously at load (WASM_ASYNC_COMPILATION=0: a page from file:// cannot
# fetch a .wasm, and headless Chromium's virtual time does not wait for an asynchronous compile),
# then inlined into examples/web/index.html in place of its <script src="autograd_web.js"> line.
# Debian's emcc runs its tools under node and finds their modules through NODE_PATH.
CHROMIUM ?= chromium
WEB      := $(BUILD)/web
WEB_EMFLAGS := $(CSTD) -O2 -msimd128 $(WARN) -I. --no-entry -sMODULARIZE=1 -sEXPORT_NAME=AutogradWeb -sENVIRONMENT=web \
  -sALLOW_MEMORY_GROWTH=1 -sEXPORTED_RUNTIME_METHODS=UTF8ToString -sSINGLE_FILE=1 -sWASM_ASYNC_COMPILATION=0
WEB_EMCC := NODE_PATH=$${NODE_PATH:-/usr/share/nodejs} $(EMCC)

web: $(WEB)/index.html
	@echo "built $< ($$(wc -c < $<) bytes: the page, the JS glue and the wasm as base64); open it in a browser"

$(WEB)/autograd_web.js: examples/web/web.c autograd.h | $(WEB)
	@rm -f $@
	$(WEB_EMCC) $(WEB_EMFLAGS) $< -o $@

# the smoke run's wasm, for node (make check-web)
$(WEB)/web_node.js: examples/web/web.c autograd.h | $(WEB)
	@rm -f $@
	$(WEB_EMCC) $(CSTD) -O2 $(WARN) -I. -DWEB_MAIN $< -o $@

$(WEB)/index.html: examples/web/index.html $(WEB)/autograd_web.js
	@rm -f $@
	@! grep -qi '</script' $(WEB)/autograd_web.js || { echo "autograd_web.js contains </script: it cannot be inlined"; exit 1; }
	awk -v js=$(WEB)/autograd_web.js '$$0 == "<script src=\"autograd_web.js\"></script>" { print "<script>"; \
	  while ((getline line < js) > 0) print line; print "</script>"; n++; next } { print } END { exit n != 1 }' $< > $@.tmp && mv $@.tmp $@

# (m) the page: its C natively and as wasm under node (a smoke run: trains, prints the losses and the
#     graph; the two must print the same losses and DOT: the JSON's 17 digits may differ, as glibc's
#     and musl's tanh do in the last bit), then the built page in headless Chromium under virtual time (the training runs as fast as it can, frames or
#     not): the DOM after training must report a finite final loss below WEB_MAX_LOSS, and a
#     screenshot of it must be a WEB_SHOT-sized PNG that is not blank. Chromium runs without its
#     sandbox (CI is root), with a profile of its own in build/web. examples/web/screenshot.png, the
#     README's picture, is a copy of build/web/screenshot.png.
WEB_MAX_LOSS := 0.01
WEB_SHOT     := 1300,1040
WEB_CHROMIUM = $(CHROMIUM) --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
  --user-data-dir=$(abspath $(WEB))/chromium-profile --virtual-time-budget=120000
check-web: check-tools $(WEB)/index.html $(WEB)/web_node.js | $(WEB)
	@rm -f $(WEB)/web_native $(WEB)/dom.html $(WEB)/screenshot.png
	$(CC) $(ALLCFLAGS) examples/web/web.c -o $(WEB)/web_native -lm
	@$(WEB)/web_native > $(WEB)/native.log && grep "^step 400" $(WEB)/native.log
	@$(NODE) --no-experimental-fetch $(WEB)/web_node.js > $(WEB)/node.log
	@grep -v '^{"nodes"' $(WEB)/native.log > $(WEB)/native.cmp; grep -v '^{"nodes"' $(WEB)/node.log > $(WEB)/node.cmp; \
	  if cmp -s $(WEB)/native.cmp $(WEB)/node.cmp; then echo "check-web: the wasm under node prints the native build's losses and DOT"; \
	  else echo "check-web: FAIL: the wasm under node and the native build differ:"; diff $(WEB)/native.cmp $(WEB)/node.cmp | head -n 20; exit 1; fi
	@$(WEB_CHROMIUM) --dump-dom file://$(abspath $(WEB))/index.html > $(WEB)/dom.html 2> $(WEB)/chromium.log || { tail -n 20 $(WEB)/chromium.log; exit 1; }
	@python3 tests/web_check.py dom $(WEB)/dom.html $(WEB_MAX_LOSS)
	@$(WEB_CHROMIUM) --window-size=$(WEB_SHOT) --screenshot=$(abspath $(WEB))/screenshot.png file://$(abspath $(WEB))/index.html \
	  2> $(WEB)/chromium.log || { tail -n 20 $(WEB)/chromium.log; exit 1; }
	@python3 tests/web_check.py png $(WEB)/screenshot.png $(subst $(comma), ,$(WEB_SHOT))
# (m) microcontrollers: tests/mcu/xor_mcu.c (XOR, 500 steps, every allocation from a static pool) for Cortex-M4
#     (qemu mps2-an386) and Cortex-M55 (mps3-an547) with arm-none-eabi-gcc -O2, newlib-nano and the startup code
#     of tests/mcu, run under qemu-system-arm with semihosting, in two variants: MCU_DEFS (AG_FREESTANDING) and
#     MCU_DEFS -DAG_NO_F64 (F32 only, sums in F32). Each variant's FNV-1a hash of the 500 losses' bits must equal
#     the native build's with the same options. Linking needs no system calls (there are none to link), and the
#     map must hold no malloc, free, getenv, printf or assert. Also the library's own formatter
#     (tests/test_format.c) against this machine's snprintf, and the library's self-test tests/test_errors.c
#     and tests/test_no_f64.c on the M4 and the M55.
ARM_CC   ?= arm-none-eabi-gcc
ARM_SIZE ?= arm-none-eabi-size
QEMU_ARM ?= qemu-system-arm
MCU_DEFS    ?= -DAG_FREESTANDING
MCU_OPT     ?= -O2
MCU_CFLAGS  := $(CSTD) $(MCU_OPT) $(WARN) -I. -Itests/mcu -DMCU -ffunction-sections -fdata-sections
MCU_LDFLAGS := --specs=nano.specs -nostartfiles -Wl,--gc-sections -Ltests/mcu
MCU_ARCH_m4  := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
MCU_ARCH_m55 := -mcpu=cortex-m55 -mthumb -mfloat-abi=hard
MCU_BOARD_m4  := mps2-an386
MCU_BOARD_m55 := mps3-an547
MCU_VARIANTS   := f64 nof64
MCU_DEFS_f64   := $(MCU_DEFS)
MCU_DEFS_nof64 := $(MCU_DEFS) -DAG_NO_F64
MCU_QEMU = timeout -k 5 300 $(QEMU_ARM) -M $(MCU_BOARD_$(1)) -nographic -semihosting-config enable=on,target=native -kernel
MCU_FORBIDDEN := malloc|_malloc_r|free|_free_r|getenv|_getenv_r|printf|fprintf|vfprintf|_vfprintf_r|snprintf|vsnprintf|fwrite|fputc|__assert_func|abort
MCU_HDRS := autograd.h tests/mcu/mcu.h tests/mcu/startup.c tests/mcu/sections.ld
$(BUILD)/mcu/flags: FORCE
	+@mkdir -p $(@D); printf '%s\n' '$(call sq,$(MCU_CFLAGS) $(MCU_DEFS))' | cmp -s - $@ || printf '%s\n' '$(call sq,$(MCU_CFLAGS) $(MCU_DEFS))' > $@
# xor_native-<variant>, xor_<core>-<variant>.elf
$(BUILD)/mcu/xor_native-%: tests/mcu/xor_mcu.c autograd.h $(BUILD)/mcu/flags
	@rm -f $@
	$(CC) $(CSTD) -O2 $(WARN) -I. $(MCU_DEFS_$*) $< -o $@ $(LDLIBS)
MCU_CORE = $(word 1,$(subst -, ,$*))
MCU_VAR  = $(word 2,$(subst -, ,$*))
$(BUILD)/mcu/xor_%.elf: tests/mcu/xor_mcu.c tests/mcu/m4.ld tests/mcu/m55.ld $(MCU_HDRS) $(BUILD)/mcu/flags
	@rm -f $@
	$(ARM_CC) $(MCU_ARCH_$(MCU_CORE)) $(MCU_CFLAGS) $(MCU_DEFS_$(MCU_VAR)) $(MCU_LDFLAGS) -T $(MCU_CORE).ld -Wl,-Map,$(BUILD)/mcu/xor_$*.map \
	  tests/mcu/xor_mcu.c tests/mcu/startup.c -o $@ -lm
# the library's self-tests on each core: tests/test_errors.c (every op's messages, compared as text) with
# AG_NO_STDIO (the library's formatter; the test's own printf and malloc are newlib's, through semihosting)
# and tests/test_no_f64.c (AG_NO_F64: the refusals, and F32 sums against double ones), 16 MiB of RAM
# (<core>-test.ld: test_errors makes a 4 MiB parameter), and 32-bit enums as on the host (it passes -1 as an enum)
MCU_SELFTEST_FLAGS = $(MCU_ARCH_$(1)) $(CSTD) $(MCU_OPT) $(WARN) -I. -Itests/mcu -DAG_NO_STDIO -fno-short-enums \
  -ffunction-sections -fdata-sections --specs=nano.specs --specs=rdimon.specs -nostartfiles -Wl,--gc-sections \
  -Wl,--no-enum-size-warning -u _printf_float -Ltests/mcu -T $(1)-test.ld
MCU_SELFTESTS := $(foreach c,m4 m55,$(BUILD)/mcu/$(c)/test_errors.elf $(BUILD)/mcu/$(c)/test_no_f64.elf)
$(BUILD)/mcu/%/test_errors.elf: tests/test_errors.c tests/autograd_impl.c tests/harness.h tests/mcu/%-test.ld $(MCU_HDRS) $(BUILD)/mcu/flags
	@mkdir -p $(@D); rm -f $@
	$(ARM_CC) $(call MCU_SELFTEST_FLAGS,$*) tests/test_errors.c tests/autograd_impl.c tests/mcu/startup.c -o $@ -lm
$(BUILD)/mcu/%/test_no_f64.elf: tests/test_no_f64.c tests/harness.h tests/mcu/%-test.ld $(MCU_HDRS) $(BUILD)/mcu/flags
	@mkdir -p $(@D); rm -f $@
	$(ARM_CC) $(call MCU_SELFTEST_FLAGS,$*) tests/test_no_f64.c tests/mcu/startup.c -o $@ -lm
check-cortex-m: $(foreach v,$(MCU_VARIANTS),$(BUILD)/mcu/xor_native-$(v) $(BUILD)/mcu/xor_m4-$(v).elf $(BUILD)/mcu/xor_m55-$(v).elf) \
                $(BUILD)/test_format $(MCU_SELFTESTS)
	@$(RUN_ALL) $(BUILD)/test_format
	@echo "self-tests on the Cortex-M4 (qemu $(MCU_BOARD_m4))"; RUNNER="$(call MCU_QEMU,m4)" $(RUN_ALL) $(filter $(BUILD)/mcu/m4/%,$(MCU_SELFTESTS))
	@echo "self-tests on the Cortex-M55 (qemu $(MCU_BOARD_m55))"; RUNNER="$(call MCU_QEMU,m55)" $(RUN_ALL) $(filter $(BUILD)/mcu/m55/%,$(MCU_SELFTESTS))
	@bad=0; for v in $(MCU_VARIANTS); do \
	  defs="$(MCU_DEFS)$$( [ $$v = nof64 ] && echo ' -DAG_NO_F64')"; \
	  $(BUILD)/mcu/xor_native-$$v > $(BUILD)/mcu/native-$$v.out || { cat $(BUILD)/mcu/native-$$v.out; exit 1; }; \
	  want=$$(sed -n 's/.*loss hash \(0x[0-9a-f]*\).*/\1/p' $(BUILD)/mcu/native-$$v.out); \
	  echo "native ($$defs): loss hash $$want"; [ -n "$$want" ] || exit 1; \
	  for t in m4 m55; do \
	    elf=$(BUILD)/mcu/xor_$$t-$$v.elf; \
	    if [ $$t = m4 ]; then q="$(call MCU_QEMU,m4)"; else q="$(call MCU_QEMU,m55)"; fi; \
	    $$q $$elf > $(BUILD)/mcu/$$t-$$v.out 2>&1; rc=$$?; \
	    sed 's/^/      /' $(BUILD)/mcu/$$t-$$v.out; \
	    got=$$(sed -n 's/.*loss hash \(0x[0-9a-f]*\).*/\1/p' $(BUILD)/mcu/$$t-$$v.out); \
	    $(ARM_SIZE) $$elf | sed 's/^/      /'; \
	    linked=$$(arm-none-eabi-nm $$elf | awk '{print $$NF}' | grep -xE '$(MCU_FORBIDDEN)' | tr '\n' ' '); \
	    if [ $$rc -ne 0 ] || [ "$$got" != "$$want" ]; then echo "FAIL  $$t ($$defs): exit $$rc, loss hash '$$got', native $$want"; bad=1; \
	    elif [ -n "$$linked" ]; then echo "FAIL  $$t ($$defs): linked $$linked"; bad=1; \
	    else echo "ok    $$t ($$defs): loss hash $$got as native, nothing of malloc/printf/getenv/assert linked"; fi; \
	  done; \
	done; exit $$bad

# ---- misc ------------------------------------------------------------------
# make bench: bench/bench.c against OpenBLAS's cblas_sgemm (Debian libopenblas-dev) and, when
# $(BENCH_PYTHON) can import torch, PyTorch (bench/torch_bench.py, a child process of the bench;
# its rows say "skipped" otherwise). Plain -O2, no -march. Prints one table and writes it, with the
# machine's description, to bench/RESULTS.md. About a minute; BENCH_ARGS=--quick for a smoke test.
BENCH_PYTHON ?= /usr/bin/python3
BENCH_ARGS   ?=
bench: | $(BUILD)
	@mkdir -p $(BUILD)/bench; rm -f $(BUILD)/bench/bench
	$(CC) $(CSTD) -O2 -Wall -Wextra -I. -DBENCH_CFLAGS='"$(CSTD) -O2"' bench/bench.c -o $(BUILD)/bench/bench -lopenblas $(LDLIBS)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ./$(BUILD)/bench/bench --python $(BENCH_PYTHON) \
	  --torch-script bench/torch_bench.py --out bench/RESULTS.md $(BENCH_ARGS)

comma := ,
$(BUILD) $(BUILD)/fuzz $(BUILD)/examples $(BUILD)/cxx/examples $(WEB) $(TGT):
	@mkdir -p $@

clean:
	rm -rf $(BUILD)
