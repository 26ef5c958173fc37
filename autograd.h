/* autograd.h - reverse-mode automatic differentiation on tensors, in one C header.

   Do this:
       #define AUTOGRAD_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the implementation.
   Every other file just does #include "autograd.h". Keep that file apart from the
   code you edit most: the implementation is about 7,000 lines and compiles in
   seconds, not milliseconds, so a one-line "autograd.c" is built once and linked.

   QUICK START (train one neuron to output 0.8 for the input 2.0)

       ag_ctx *ctx = ag_ctx_new(NULL);
       float w0 = 0.3f, b0 = 0.1f;
       ag_tensor *w = ag_param(ctx, AG_F32, 0, NULL, &w0);     // persistent, requires grad
       ag_tensor *b = ag_param(ctx, AG_F32, 0, NULL, &b0);
       for (int step = 0; step < 20; step++) {
           ag_tensor *y    = ag_tanh(ag_add(ag_mul(w, ag_scalar(ctx, 2.0)), b));
           ag_tensor *loss = ag_pow(ag_add_scalar(y, -0.8), 2.0);
           ag_zero_grad(w); ag_zero_grad(b);
           if (ag_backward(loss, NULL) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); break; }
           *(float *)ag_data(w) -= 0.5f * (float)ag_item(ag_grad(w));
           *(float *)ag_data(b) -= 0.5f * (float)ag_item(ag_grad(b));
           ag_ctx_reset(ctx);                                   // frees the iteration's graph in O(1)
       }
       ag_ctx_free(ctx);

   WITH AN OPTIMIZER (an MLP; x [64, 784] and labels are refilled each step)

       ag_tensor *W1 = ag_param(ctx, AG_F32, 2, (int64_t[]){256, 784}, NULL), *b1 = ...;
       ag_init_linear(W1, b1); ...
       ag_tensor *params[] = { W1, b1, W2, b2 };
       ag_adam_opts o = ag_adam_defaults();  o.lr = 1e-3;
       ag_optim *opt = ag_adam_new(ctx, params, 4, &o);
       for (;;) {
           ag_tensor *x = ag_from(ctx, AG_F32, 2, (int64_t[]){64, 784}, pixels);
           ag_tensor *loss = ag_cross_entropy(ag_linear(ag_relu(ag_linear(x, W1, b1)), W2, b2), labels);
           ag_optim_zero_grad(opt);
           if (!loss || ag_backward(loss, NULL) != 0 || ag_optim_step(opt) != 0) break;  // ag_error(ctx) says why
           ag_ctx_reset(ctx);
       }

   CONTENTS: grep ">>name" to jump. Each part has the same anchor in the declarations
   below and again in the implementation.
       >>types       dtypes, the allocator, ag_desc (context options), ag_stats
       >>context     contexts, errors, grad mode, the RNG, which kernels run
       >>tensors     creation, accessors, printing        >>grads     gradients of leaves
       >>ops         every op. In the implementation one block per op: its forward, its
                     backward rule, its forward-mode (JVP) rule and its kernel, side by side
       >>backward    ag_backward, ag_grad_of               >>inplace   in-place ops
       >>forward     forward-mode AD: duals and tangents
       >>hooks       gradient hooks, anomaly mode, custom functions, checkpointing
       >>replay      capture a training step once, replay it each frame
       >>graph       walking the autograd graph, DOT      >>gradcheck finite differences
       >>optim       SGD, Adam, AdamW; loss scaling, schedules, clipping, initialisation
       >>safetensors save and load                       >>functional vjp, jvp, Jacobians, Hessians
       >>vmap        ag_vmap, and batched tensors (the op table's batch column)
       >>layers      conv2d, pools, batch norm, embedding, attention
     implementation only:
       >>dispatch    which kernel set a context runs      >>arena     the heap and the arena
       >>optable     the op table: every per-op fact, and how to add an op
       >>iter >>kernels  strided iteration and the scalar kernels
       >>half        F16 and BF16: conversions, 16-bit rows, which ops keep 16 bits
       >>simd        the kernel sets (AVX2, AVX-512, NEON, scalar): one vocabulary each
       >>fastpath >>vmath >>elementwise  elementwise SIMD rows, vector exp/log/tanh/..., row kernels
       >>gemm        matrix products                      >>threads   the thread pool

   MEMORY MODEL
       Two kinds of memory. Persistent tensors (ag_param, ag_persistent) and their
       gradients are allocated once through the context's allocator and live until
       ag_ctx_free; so do optimizers and hooks (make parameters once, not in a loop).
       Everything else - intermediates, graph nodes, saved values, scratch - is
       bump-allocated in the context's arena and released in O(1) by ag_ctx_reset.
       The arena grows in blocks (pointers never move) and reuses them after a reset,
       so a training loop makes no heap allocation after its first step. An arena
       tensor passed to any function after the reset that freed it is an error
       (each tensor carries the reset count it was made in), not stale data.
       ag_desc.arena_limit caps the arena: exceeding it is an error on the context,
       never a crash. ag_get_stats reports use, peak and heap traffic.

   ERRORS ARE VALUES
       Bad input sets a message on the context naming the op and the shapes (the
       first one is kept until ag_clear_error) and the call reports failure:
           functions returning a tensor or a pointer   NULL
           functions returning int                     0 ok, -1 error (ag_gradcheck: 1 pass, 0 fail, -1 error)
           ag_item, ag_get, ag_clip_grad_norm           NaN
           ag_save_safetensors_mem                      0
       A NULL input makes an op return NULL, so one check at the end of a
       computation suffices. Nothing aborts or prints. AG_ASSERT guards internal
       invariants only.

   THREADS AND KERNELS
       A context and its tensors are used by one thread at a time; contexts on
       different threads are independent (no global mutable state). ag_desc.threads = N
       runs products of 2^17 multiply-adds or more (one slab of the result per thread),
       dense copies of 256 KB or more and the optimizer updates on a pool of N - 1
       workers plus the caller (they spin a little between jobs, then sleep), or
       ag_desc.parallel_for hands the work to your own job system. Each context picks
       the best kernel set the CPU has at ag_ctx_new (x86-64: AVX-512, AVX2+FMA, by
       cpuid; aarch64: NEON; WebAssembly built with -msimd128: SIMD128; else scalar);
       ag_desc.simd or the environment variable AG_SIMD=scalar|avx2|avx512|neon|simd128
       forces one, ag_simd_name says which runs. Results are bit-identical for any
       number of threads. Across kernel sets and targets (x86-64, aarch64, armhf, i386
       with SSE2, WebAssembly, Cortex-M, Windows), elementwise ops, the F32 vector math
       (exp, log, tanh, sigmoid, gelu_tanh, silu, erf: within 1 ulp; gelu), softmax and
       cross-entropy, and optimizer updates are bit-identical, and so are products of
       at most 512 multiply-adds. Larger products round each step once on sets with
       an FMA instruction (AVX2, AVX-512, NEON) and twice on the others (scalar,
       SIMD128), so they agree within each group (AVX-512 also sums K in blocks of 128,
       not 256). Other libm functions (log1p, pow, sin, ...) are the C library's.

   BUILD OPTIONS (#define before including the implementation)
       AUTOGRAD_IMPLEMENTATION  emit the implementation in this translation unit
       AUTOGRAD_STATIC          make every function static (private to one file)
       AG_API                   the declaration prefix (default: extern)
       AG_ASSERT(x)             internal invariant check (default: assert(x))
       AG_NO_SIMD               only the portable scalar kernels
       AG_NO_AVX2               no x86 vector kernels (AVX2 and AVX-512 both off)
       AG_NO_NEON               no NEON kernels on aarch64
       AG_NO_THREADS            no thread pool (ag_desc.threads is ignored; parallel_for still works)
       AG_NO_SAFETENSORS        drop >>safetensors (saving and loading)
       AG_NO_FUNCTIONAL         drop >>functional (vjp, jvp, Jacobians, Hessians, per-example grads)
       AG_NO_LAYERS             drop >>layers (conv2d, pools, batch norm, embedding, attention)
       AG_FREESTANDING          a microcontroller build: AG_NO_STDIO, AG_NO_MALLOC, AG_NO_GETENV and AG_NO_THREADS,
                                AG_ASSERT off, and smaller starting sizes (AG_STACK_INIT 32, AG_ERROR_BYTES 160)
       AG_NO_STDIO              no <stdio.h>: messages go through the library's own formatter, ag_print and
                                ag_graph_dot through ag_desc.write (their ag_file *f is passed on as it is), and
                                the path forms of ag_save/load_safetensors fail (the _mem forms work)
       AG_NO_MALLOC             no default allocator: ag_ctx_new returns NULL unless ag_desc.allocator is set
       AG_NO_GETENV             the environment variable AG_SIMD is not read (ag_desc.simd still is)
       AG_STACK_INIT            first size, in entries, of the graph traversal stack (default 1024); it doubles as needed
       AG_ERROR_BYTES           bytes of a context's error message, its terminating zero included (default 512)
       ALLOCATOR ALIGNMENT: ag_desc.allocator.alloc must return memory aligned to 8 bytes (malloc's is);
       ag_ctx_new returns NULL, and any later allocation fails with a message, when it does not.
       AG_ALLOW_FAST_MATH       build the implementation under clang -ffast-math anyway (see FLAGS)
       AG_ALLOW_EXCESS_PRECISION  build it with x87 arithmetic anyway (see FLAGS)
   Every combination compiles with -std=c99 -Wall -Wextra -pedantic -Werror (gcc,
   clang) and as C++11.

   FLAGS (what holds, tested by make check)
       -O0 .. -O3, -march=native, GNU C (-std=gnu11: FMA contraction on), gcc or clang, C or C++:
                    everything, bit-identical results included
       gcc -ffast-math / -Ofast: the implementation switches fast-math off for itself, so
                    everything holds; the rest of your program keeps the flag
       clang -ffast-math / -Ofast: clang cannot switch it off for part of a file (it keeps
                    approximate square roots), so the build stops with a message: compile the
                    implementation's file without it, or define AG_ALLOW_FAST_MATH
       32-bit x86: with -msse2 -mfpmath=sse everything holds; x87 arithmetic (gcc's default for
                    -m32) rounds intermediates when registers spill, so the build stops with a
                    message unless AG_ALLOW_EXCESS_PRECISION (results then match only closely)

   SEMANTICS follow PyTorch: gradients accumulate into leaves until ag_zero_grad;
   a second backward through a graph needs retain_graph on the first; a
   non-scalar root needs a seed gradient; create_graph records the backward pass
   so a gradient can itself be differentiated; ag_detach and no-grad scopes
   (ag_set_grad_enabled) record nothing. Mixed F32/F64 inputs promote to F64,
   except that a 0-d tensor does not promote a tensor with dimensions; F16 and
   BF16 are storage dtypes computed in F32, and mix into F32 (>>half). Option
   structs (ag_desc, ag_backward_opts, ag_conv2d_opts, ag_gradcheck_opts,
   ag_grad_scaler_opts) mean the defaults when zero-filled; optimizers start
   from ag_*_defaults().

   License: MIT, at the end of this file.
*/
#ifndef AUTOGRAD_H
#define AUTOGRAD_H

/* AG_FREESTANDING: the options a microcontroller build wants, in one (see BUILD OPTIONS) */
#ifdef AG_FREESTANDING
#ifndef AG_NO_STDIO
#define AG_NO_STDIO
#endif
#ifndef AG_NO_MALLOC
#define AG_NO_MALLOC
#endif
#ifndef AG_NO_GETENV
#define AG_NO_GETENV
#endif
#ifndef AG_NO_THREADS
#define AG_NO_THREADS
#endif
#endif

#include <stddef.h>
#include <stdint.h>
#ifndef AG_NO_STDIO
#include <stdio.h>
typedef FILE ag_file;   /* where ag_print and ag_graph_dot write */
#else
typedef void ag_file;   /* AG_NO_STDIO: handed to ag_desc.write as it is */
#endif
#ifndef __cplusplus
#include <stdbool.h>
#endif

#define AG_VERSION_MAJOR 0
#define AG_VERSION_MINOR 1
#define AG_VERSION_PATCH 0

#ifndef AG_API
#ifdef AUTOGRAD_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define AG_API static __attribute__((unused))   /* a file need not call every function */
#else
#define AG_API static
#endif
#else
#define AG_API extern
#endif
#endif

#define AG_MAX_DIMS 8

#ifdef __cplusplus
extern "C" {
#endif

/* ==== >>types ==== */
/* F16 (IEEE binary16) and BF16 (bfloat16) are storage dtypes: 2 bytes an element, computed in F32
   (see >>half: which ops keep them, which compute in F32 and return F32). I32, I64 and BOOL hold
   labels, indices and masks: comparisons give BOOL, argmax gives I64, they never require grad
   (see >>int: which ops take them as they are, which compute in F32) */
typedef enum { AG_F32, AG_F64, AG_F16, AG_BF16, AG_I32, AG_I64, AG_BOOL } ag_dtype;
typedef struct ag_ctx ag_ctx;          /* owns the arena, the RNG, the error state */
typedef struct ag_tensor ag_tensor;
typedef struct {
    void *(*alloc)(size_t size, void *user);   /* NULL: malloc */
    void (*free)(void *ptr, void *user);       /* NULL: free */
    void *user;
} ag_allocator;
/* runs task(arg, i) for every i in [0, n), in any order and on any threads, and returns when all are done */
typedef void (*ag_parallel_for_fn)(void (*task)(void *arg, int i), void *arg, int n, void *user);
typedef struct {
    ag_allocator allocator;
    size_t arena_bytes;   /* size of one arena block; 0: 1 MiB */
    size_t arena_limit;   /* hard cap on the arena's total capacity; 0: grow as needed */
    uint64_t seed;        /* RNG seed for rand/randn/dropout; 0 is a valid seed */
    int threads;          /* threads for products, convolutions, pools, big elementwise ops, gathers, copies and
                             optimizer updates (each result the same bits on any count); 0 or 1: the calling thread only.
                             Idle workers spin about 1 ms before they sleep */
    ag_parallel_for_fn parallel_for;   /* a job system of your own instead of threads; NULL: none */
    void *parallel_user;
    const char *simd;     /* force kernels: "scalar", "avx2", "avx512", "neon", "simd128"; NULL: $AG_SIMD or the best the CPU has */
    void (*write)(ag_file *f, const char *s, size_t n);   /* AG_NO_STDIO: how ag_print and ag_graph_dot write
                                                             n bytes to their f; NULL: they write nothing */
} ag_desc;
typedef struct {
    size_t arena_used;       /* bytes handed out since the last reset */
    size_t arena_peak;       /* the most arena_used has been since ag_ctx_new */
    size_t arena_step_peak;  /* the most arena_used has been since the last ag_ctx_reset */
    size_t arena_capacity;   /* bytes of arena blocks held (reused across resets) */
    size_t persistent_bytes; /* bytes held by persistent tensors and their gradients */
    uint64_t heap_allocs;    /* calls to the allocator since ag_ctx_new */
    uint64_t heap_frees;
    uint64_t nodes;          /* graph nodes (op results) recorded since the last reset */
    uint64_t persistent_tensors;   /* live persistent tensors (ag_param, ag_persistent, optimizer state):
                                      one growing each step is ag_param called inside the loop */
    int threads;             /* threads products run on, the caller included (fewer than ag_desc.threads
                                asked for when the system would not start them) */
} ag_stats;

/* ==== >>context ==== */
AG_API ag_ctx *ag_ctx_new(const ag_desc *desc);   /* NULL desc: defaults; NULL if out of memory */
AG_API void    ag_ctx_free(ag_ctx *ctx);
AG_API void    ag_ctx_reset(ag_ctx *ctx);         /* frees the graph and every non-persistent tensor in O(1) */
AG_API const char *ag_error(const ag_ctx *ctx);   /* first error since the last clear, or NULL */
AG_API void    ag_clear_error(ag_ctx *ctx);
AG_API bool    ag_set_grad_enabled(ag_ctx *ctx, bool on);   /* returns the previous state */
AG_API bool    ag_is_grad_enabled(const ag_ctx *ctx);
AG_API ag_stats ag_get_stats(const ag_ctx *ctx);
AG_API void    ag_manual_seed(ag_ctx *ctx, uint64_t seed);
AG_API const char *ag_dtype_name(ag_dtype dtype);           /* "float32", "float64", "float16", "bfloat16", "int32", "int64", "bool" */
AG_API const char *ag_simd_name(const ag_ctx *ctx);        /* the kernels in use: "avx512", "avx2", "neon" or "scalar" */

/* ==== >>tensors ====
   Arena-owned unless made by ag_param / ag_persistent. shape may be NULL when ndim is 0. */
AG_API ag_tensor *ag_new(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape);     /* zeros */
AG_API ag_tensor *ag_zeros(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape);
AG_API ag_tensor *ag_ones(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape);
AG_API ag_tensor *ag_full(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, double value);
/* data holds elements of dtype: float, double, uint16_t bit patterns (F16, BF16), int32_t, int64_t,
   or bytes 0/1 (BOOL), row-major; ag_from copies them */
AG_API ag_tensor *ag_from(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, const void *data); /* copies */
/* the same with the element type in the signature, so passing a double array as floats is a compile error */
AG_API ag_tensor *ag_from_f32(ag_ctx *ctx, int ndim, const int64_t *shape, const float *data);
AG_API ag_tensor *ag_from_f64(ag_ctx *ctx, int ndim, const int64_t *shape, const double *data);
/* your array as a tensor, without a copy (like torch.from_numpy): ops read it and in-place ops write
   it; you keep ownership and keep it alive while the tensor is used. An arena tensor (valid until
   ag_ctx_reset); data must be aligned to its element size. For a game loop's observations. */
AG_API ag_tensor *ag_wrap(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, void *data);
AG_API ag_tensor *ag_param(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, const void *data); /* persistent, requires grad; NULL data: zeros */
AG_API ag_tensor *ag_persistent(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, const void *data); /* persistent, no grad */
/* gives a persistent tensor's memory (and its gradient's and hooks') back now, instead of at
   ag_ctx_free. Refused while an optimizer holds it (ag_optim_free first) or a tensor of this
   step uses it (ag_ctx_reset first). The pointer is dead afterwards. 0 ok, -1 error. */
AG_API int        ag_free_persistent(ag_tensor *t);
AG_API ag_tensor *ag_scalar(ag_ctx *ctx, double v);                                       /* 0-d, F32 */
AG_API ag_tensor *ag_scalar_f64(ag_ctx *ctx, double v);                                   /* 0-d, F64 */
AG_API ag_tensor *ag_arange(ag_ctx *ctx, ag_dtype dtype, double start, double end, double step);
AG_API ag_tensor *ag_rand(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape);   /* U[0, 1) */
AG_API ag_tensor *ag_randn(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape);  /* N(0, 1) */
AG_API ag_tensor *ag_to(ag_tensor *t, ag_dtype dtype);     /* dtype conversion (differentiable); t itself if same */

AG_API ag_ctx  *ag_context(const ag_tensor *t);
AG_API ag_dtype ag_type(const ag_tensor *t);
AG_API int      ag_ndim(const ag_tensor *t);
AG_API int64_t  ag_dim(const ag_tensor *t, int i);         /* negative i counts from the end; -1 if out of range */
AG_API const int64_t *ag_shape(const ag_tensor *t);
AG_API const int64_t *ag_strides(const ag_tensor *t);      /* in elements */
AG_API int64_t  ag_numel(const ag_tensor *t);
AG_API bool     ag_is_contiguous(const ag_tensor *t);
AG_API void    *ag_data(ag_tensor *t);                     /* element [0,...,0]; walk it with ag_strides */
AG_API double   ag_item(const ag_tensor *t);               /* the value of a one-element tensor; NaN + error otherwise */
AG_API double   ag_get(const ag_tensor *t, const int64_t *index);   /* one element of any tensor; NaN + error if out of range */
AG_API int      ag_copy_out(const ag_tensor *t, ag_dtype dtype, void *dst); /* all elements in row-major order, converted; 0 ok */
AG_API void     ag_print(const ag_tensor *t, ag_file *f);     /* shape, dtype, values (abbreviated), the op that made it */

/* ==== >>grads: gradients of leaves ==== */
AG_API ag_tensor *ag_grad(const ag_tensor *t);             /* NULL until a backward reaches it */
AG_API void       ag_zero_grad(ag_tensor *t);              /* forget the gradient (set to none); no heap traffic */
AG_API ag_tensor *ag_set_requires_grad(ag_tensor *t, bool on);   /* leaves only; returns t (NULL on error) */
AG_API bool       ag_requires_grad(const ag_tensor *t);
AG_API bool       ag_is_leaf(const ag_tensor *t);
AG_API ag_tensor *ag_retain_grad(ag_tensor *t);            /* keep the gradient of a non-leaf (like PyTorch's retain_grad) */
AG_API ag_tensor *ag_detach(ag_tensor *t);                 /* shares storage, leaves the graph */

/* ==== >>ops ====
   Every op takes and returns tensors; a NULL input gives NULL (the first error stays on the ctx).
   dim arguments may be negative (counted from the end), as in PyTorch. */
/* elementwise, with NumPy broadcasting */
AG_API ag_tensor *ag_add(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_sub(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_mul(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_div(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_maximum(ag_tensor *a, ag_tensor *b);  /* ties split the gradient evenly, as PyTorch */
AG_API ag_tensor *ag_minimum(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_atan2(ag_tensor *a, ag_tensor *b);     /* the angle of (b, a) */
AG_API ag_tensor *ag_hypot(ag_tensor *a, ag_tensor *b);     /* sqrt(a^2 + b^2) without overflow */
AG_API ag_tensor *ag_logaddexp(ag_tensor *a, ag_tensor *b); /* log(exp(a) + exp(b)), stable */
AG_API ag_tensor *ag_fmod(ag_tensor *a, ag_tensor *b);      /* remainder with a's sign (C's fmod) */
AG_API ag_tensor *ag_remainder(ag_tensor *a, ag_tensor *b); /* remainder with b's sign (Python's %) */
AG_API ag_tensor *ag_pow_tensor(ag_tensor *a, ag_tensor *b);   /* a ** b elementwise; c ** x with a 0-d a */
AG_API ag_tensor *ag_lerp(ag_tensor *start, ag_tensor *end, ag_tensor *weight);   /* start + weight (end - start) */
AG_API ag_tensor *ag_rsub_scalar(ag_tensor *t, double s);  /* s - t */
/* comparisons and logic: BOOL results, no gradient; the inputs promote as for ag_add (>>int) */
AG_API ag_tensor *ag_eq(ag_tensor *a, ag_tensor *b);        /* a == b (NaN equals nothing) */
AG_API ag_tensor *ag_ne(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_lt(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_le(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_gt(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_ge(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_logical_and(ag_tensor *a, ag_tensor *b);   /* non-zero (and NaN) is true */
AG_API ag_tensor *ag_logical_or(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_logical_xor(ag_tensor *a, ag_tensor *b);
AG_API ag_tensor *ag_logical_not(ag_tensor *t);
AG_API ag_tensor *ag_isnan(ag_tensor *t);
AG_API ag_tensor *ag_isinf(ag_tensor *t);
AG_API ag_tensor *ag_isfinite(ag_tensor *t);
AG_API ag_tensor *ag_floor_divide(ag_tensor *a, ag_tensor *b);  /* floor(a / b): Python's // for integers (0 divisor: error); no gradient */
AG_API ag_tensor *ag_where(ag_tensor *cond, ag_tensor *a, ag_tensor *b);   /* cond (BOOL) ? a : b, broadcast; gradients to a and b */
AG_API ag_tensor *ag_masked_fill(ag_tensor *t, ag_tensor *mask, double value);   /* value where the BOOL mask holds */
AG_API ag_tensor *ag_one_hot(ag_tensor *index, int64_t num_classes);   /* I32/I64 classes -> I64 [..., num_classes]; -1: max + 1 */
AG_API ag_tensor *ag_rdiv_scalar(ag_tensor *t, double s);  /* s / t */
AG_API ag_tensor *ag_rpow_scalar(ag_tensor *t, double s);  /* s ** t (gradient y log s; 0 at s = 0) */
/* elementwise, one input */
AG_API ag_tensor *ag_neg(ag_tensor *t);
AG_API ag_tensor *ag_pow(ag_tensor *t, double exponent);
AG_API ag_tensor *ag_add_scalar(ag_tensor *t, double s);
AG_API ag_tensor *ag_mul_scalar(ag_tensor *t, double s);
AG_API ag_tensor *ag_exp(ag_tensor *t);
AG_API ag_tensor *ag_log(ag_tensor *t);
AG_API ag_tensor *ag_sqrt(ag_tensor *t);
AG_API ag_tensor *ag_abs(ag_tensor *t);
AG_API ag_tensor *ag_tanh(ag_tensor *t);
AG_API ag_tensor *ag_sigmoid(ag_tensor *t);
AG_API ag_tensor *ag_relu(ag_tensor *t);
AG_API ag_tensor *ag_leaky_relu(ag_tensor *t, double negative_slope);
AG_API ag_tensor *ag_gelu(ag_tensor *t);                   /* exact: x/2 (1 + erf(x/sqrt 2)) */
AG_API ag_tensor *ag_gelu_tanh(ag_tensor *t);              /* PyTorch's approximate='tanh' */
AG_API ag_tensor *ag_silu(ag_tensor *t);
AG_API ag_tensor *ag_erf(ag_tensor *t);
AG_API ag_tensor *ag_clamp(ag_tensor *t, double lo, double hi);   /* min(max(x, lo), hi), as PyTorch (lo > hi gives hi) */
AG_API ag_tensor *ag_softplus(ag_tensor *t, double beta, double threshold);   /* log(1 + exp(beta x)) / beta; x where beta x > threshold (PyTorch: 1, 20) */
AG_API ag_tensor *ag_sin(ag_tensor *t);
AG_API ag_tensor *ag_cos(ag_tensor *t);
AG_API ag_tensor *ag_tan(ag_tensor *t);
AG_API ag_tensor *ag_asin(ag_tensor *t);
AG_API ag_tensor *ag_acos(ag_tensor *t);
AG_API ag_tensor *ag_atan(ag_tensor *t);
AG_API ag_tensor *ag_sinh(ag_tensor *t);
AG_API ag_tensor *ag_cosh(ag_tensor *t);
AG_API ag_tensor *ag_asinh(ag_tensor *t);
AG_API ag_tensor *ag_acosh(ag_tensor *t);
AG_API ag_tensor *ag_atanh(ag_tensor *t);
AG_API ag_tensor *ag_log2(ag_tensor *t);
AG_API ag_tensor *ag_log10(ag_tensor *t);
AG_API ag_tensor *ag_log1p(ag_tensor *t);                  /* log(1 + x), exact for small x */
AG_API ag_tensor *ag_exp2(ag_tensor *t);
AG_API ag_tensor *ag_expm1(ag_tensor *t);                  /* exp(x) - 1, exact for small x */
AG_API ag_tensor *ag_rsqrt(ag_tensor *t);                  /* 1 / sqrt(x) */
AG_API ag_tensor *ag_reciprocal(ag_tensor *t);             /* 1 / x: 1 / x is ag_reciprocal(x), c / x ag_mul_scalar of it */
AG_API ag_tensor *ag_square(ag_tensor *t);
AG_API ag_tensor *ag_floor(ag_tensor *t);                  /* floor, ceil, round (half to even), trunc: gradient 0 */
AG_API ag_tensor *ag_ceil(ag_tensor *t);
AG_API ag_tensor *ag_round(ag_tensor *t);
AG_API ag_tensor *ag_trunc(ag_tensor *t);
AG_API ag_tensor *ag_frac(ag_tensor *t);                   /* x - trunc(x); gradient 1 */
AG_API ag_tensor *ag_sign(ag_tensor *t);                   /* -1, 0 or 1 (0 at NaN, like PyTorch); gradient 0 */
AG_API ag_tensor *ag_softsign(ag_tensor *t);               /* x / (1 + |x|) */
AG_API ag_tensor *ag_logsigmoid(ag_tensor *t);             /* log(sigmoid(x)), stable at both ends */
AG_API ag_tensor *ag_elu(ag_tensor *t, double alpha);      /* x > 0 ? x : alpha (exp(x) - 1); PyTorch's alpha 1 */
AG_API ag_tensor *ag_selu(ag_tensor *t);                   /* scale elu(x, alpha), PyTorch's constants */
AG_API ag_tensor *ag_celu(ag_tensor *t, double alpha);     /* x > 0 ? x : alpha (exp(x / alpha) - 1) */
AG_API ag_tensor *ag_hardtanh(ag_tensor *t, double min_val, double max_val);   /* clamp with gradient 0 at the bounds */
AG_API ag_tensor *ag_relu6(ag_tensor *t);                  /* hardtanh(x, 0, 6) */
AG_API ag_tensor *ag_hardsigmoid(ag_tensor *t);            /* relu6(x + 3) / 6 */
AG_API ag_tensor *ag_hardswish(ag_tensor *t);              /* x relu6(x + 3) / 6 */
AG_API ag_tensor *ag_mish(ag_tensor *t);                   /* x tanh(softplus(x)) */
/* reductions: over all elements (0-d result) or one dim */
AG_API ag_tensor *ag_sum(ag_tensor *t);
AG_API ag_tensor *ag_mean(ag_tensor *t);
AG_API ag_tensor *ag_max(ag_tensor *t);                    /* ties share the gradient evenly (like amax) */
AG_API ag_tensor *ag_min(ag_tensor *t);
AG_API ag_tensor *ag_var(ag_tensor *t, int correction);    /* correction 1: unbiased (PyTorch's default) */
AG_API ag_tensor *ag_std(ag_tensor *t, int correction);    /* sqrt(var) */
AG_API ag_tensor *ag_std_dim(ag_tensor *t, int dim, bool keepdim, int correction);
AG_API ag_tensor *ag_logsumexp(ag_tensor *t, int dim, bool keepdim);   /* log(sum(exp(x))), stable; gradient softmax(x) */
AG_API ag_tensor *ag_cumsum(ag_tensor *t, int dim);        /* running sums along dim */
AG_API ag_tensor *ag_tril(ag_tensor *t, int diagonal);     /* zero above the diagonal of the last two dims (j - i > diagonal) */
AG_API ag_tensor *ag_triu(ag_tensor *t, int diagonal);     /* zero below it (j - i < diagonal) */
AG_API ag_tensor *ag_flip(ag_tensor *t, int ndims, const int *dims);   /* reverse the order along each of dims (a copy) */
AG_API ag_tensor *ag_roll(ag_tensor *t, int64_t shift, int dim);      /* y[i] = x[i - shift], wrapping around along dim */
AG_API ag_tensor *ag_sum_dim(ag_tensor *t, int dim, bool keepdim);
AG_API ag_tensor *ag_mean_dim(ag_tensor *t, int dim, bool keepdim);
AG_API ag_tensor *ag_max_dim(ag_tensor *t, int dim, bool keepdim);
AG_API ag_tensor *ag_min_dim(ag_tensor *t, int dim, bool keepdim);
AG_API ag_tensor *ag_var_dim(ag_tensor *t, int dim, bool keepdim, int correction);
AG_API ag_tensor *ag_argmax(ag_tensor *t, int dim, bool keepdim);   /* I64 indices (as PyTorch), no gradient */
AG_API ag_tensor *ag_argmin(ag_tensor *t, int dim, bool keepdim);   /* the same for the smallest */
/* linear algebra */
AG_API ag_tensor *ag_matmul(ag_tensor *a, ag_tensor *b);   /* 1-D, 2-D, batched N-D with broadcast batch dims */
AG_API ag_tensor *ag_linear(ag_tensor *x, ag_tensor *W, ag_tensor *b);   /* x @ W^T + b; b may be NULL */
/* shape: views share storage where PyTorch's do */
AG_API ag_tensor *ag_reshape(ag_tensor *t, int ndim, const int64_t *shape);   /* one entry may be -1 */
AG_API ag_tensor *ag_transpose(ag_tensor *t, int d0, int d1);
AG_API ag_tensor *ag_permute(ag_tensor *t, const int *perm);                  /* ag_ndim(t) entries */
AG_API ag_tensor *ag_squeeze(ag_tensor *t, int dim);
AG_API ag_tensor *ag_unsqueeze(ag_tensor *t, int dim);
AG_API ag_tensor *ag_slice(ag_tensor *t, int dim, int64_t start, int64_t end, int64_t step); /* Python rules: negatives count from the end, clamped */
AG_API ag_tensor *ag_narrow(ag_tensor *t, int dim, int64_t start, int64_t length);
AG_API ag_tensor *ag_expand(ag_tensor *t, int ndim, const int64_t *shape);    /* -1 keeps a size */
AG_API ag_tensor *ag_contiguous(ag_tensor *t);                                /* t itself if already contiguous */
AG_API ag_tensor *ag_cat(ag_tensor *const *ts, int n, int dim);
AG_API ag_tensor *ag_stack(ag_tensor *const *ts, int n, int dim);
AG_API ag_tensor *ag_gather_rows(ag_tensor *table, int64_t n, const int32_t *index);   /* [n, table.shape[1:]...]: embedding lookup */
/* neural-network pieces */
AG_API ag_tensor *ag_softmax(ag_tensor *t, int dim);
AG_API ag_tensor *ag_log_softmax(ag_tensor *t, int dim);
AG_API ag_tensor *ag_cross_entropy(ag_tensor *logits, const int32_t *targets); /* logits [N, C] (or [C]); mean over N */
AG_API ag_tensor *ag_cross_entropy_t(ag_tensor *logits, ag_tensor *targets);  /* the same with an I32/I64 target tensor [N] (or 0-d) */
AG_API ag_tensor *ag_mse_loss(ag_tensor *a, ag_tensor *b);                     /* mean((a - b)^2) */
AG_API ag_tensor *ag_bce_with_logits(ag_tensor *logits, ag_tensor *targets);   /* mean, numerically stable */
AG_API ag_tensor *ag_layer_norm(ag_tensor *x, ag_tensor *weight, ag_tensor *bias, double eps); /* over the last dim; weight, bias may be NULL */
AG_API ag_tensor *ag_dropout(ag_tensor *t, double p, bool training);           /* context RNG; identity when !training */
/* built from the ops above, each with its own checks and messages */
AG_API ag_tensor *ag_select(ag_tensor *t, int dim, int64_t index);           /* t[..., index, ...]: a view with dim removed (negative index from the end) */
AG_API ag_tensor *ag_flatten(ag_tensor *t, int start_dim, int end_dim);      /* dims start..end merged into one (a view where reshape gives one) */
AG_API ag_tensor *ag_unflatten(ag_tensor *t, int dim, int n, const int64_t *sizes);   /* dim split into n sizes (one may be -1) */
AG_API ag_tensor *ag_movedim(ag_tensor *t, int source, int destination);    /* a view: dim source moved to destination */
AG_API int ag_split(ag_tensor *t, int n, const int64_t *sizes, int dim, ag_tensor **out);   /* n views of sizes[i] along dim (summing to its size); n, or -1 */
AG_API int ag_chunk(ag_tensor *t, int chunks, int dim, ag_tensor **out);    /* views of ceil(size / chunks) along dim, the last smaller: how many (<= chunks), or -1 */
AG_API int ag_unbind(ag_tensor *t, int dim, ag_tensor **out);               /* the ag_dim(t, dim) views ag_select(t, dim, i): how many, or -1 */
AG_API ag_tensor *ag_repeat(ag_tensor *t, int n, const int64_t *repeats);   /* t tiled repeats[i] times along dim i (n >= ndim: new leading dims), a copy */
AG_API ag_tensor *ag_sum_dims(ag_tensor *t, int n, const int *dims, bool keepdim);   /* over several dims at once; n = 0: all */
AG_API ag_tensor *ag_mean_dims(ag_tensor *t, int n, const int *dims, bool keepdim);
AG_API ag_tensor *ag_norm(ag_tensor *t, double p);   /* (sum |x|^p)^(1/p) over all elements, p > 0 or INFINITY (max |x|); p = 2: Frobenius */
AG_API ag_tensor *ag_norm_dims(ag_tensor *t, double p, int n, const int *dims, bool keepdim);   /* torch.linalg.vector_norm; gradient 0 at a zero vector */
AG_API ag_tensor *ag_gather(ag_tensor *t, int dim, int ndim, const int64_t *shape, const int64_t *index);   /* torch.gather: y[c] = t[c with c_dim = index[c]], index row-major of that shape */
AG_API ag_tensor *ag_index_select(ag_tensor *t, int dim, int64_t n, const int64_t *index);   /* entries index[0..n) of dim */
AG_API ag_tensor *ag_scatter_add(ag_tensor *t, int dim, const int64_t *index, ag_tensor *src);   /* t + src added at index along dim (index shaped like src) */
AG_API ag_tensor *ag_scatter(ag_tensor *t, int dim, const int64_t *index, ag_tensor *src);       /* t with src written at index (torch.scatter; the last of repeated indices wins) */
/* the same with an I32 or I64 index tensor, as PyTorch's (gather: index of t's dims; index_select: 1-D;
   scatter: shaped like src); a replay reads the index tensor again (write new indices into it) */
AG_API ag_tensor *ag_gather_t(ag_tensor *t, int dim, ag_tensor *index);
AG_API ag_tensor *ag_index_select_t(ag_tensor *t, int dim, ag_tensor *index);
AG_API ag_tensor *ag_scatter_add_t(ag_tensor *t, int dim, ag_tensor *index, ag_tensor *src);
AG_API ag_tensor *ag_scatter_t(ag_tensor *t, int dim, ag_tensor *index, ag_tensor *src);
AG_API ag_tensor *ag_argsort(ag_tensor *t, int dim, bool descending);   /* I64 indices, stable; NaN counts as largest (PyTorch) */
AG_API ag_tensor *ag_sort(ag_tensor *t, int dim, bool descending, ag_tensor **indices);   /* values; *indices (may be NULL) gets argsort's */
AG_API ag_tensor *ag_topk(ag_tensor *t, int64_t k, int dim, bool largest, ag_tensor **indices);   /* the k largest (smallest) along dim, in order */
AG_API ag_tensor *ag_kthvalue(ag_tensor *t, int64_t k, int dim, bool keepdim, ag_tensor **indices);   /* the k-th smallest, k from 1 */
AG_API ag_tensor *ag_median_dim(ag_tensor *t, int dim, bool keepdim, ag_tensor **indices);   /* lower median; NaN if the slice has one */
AG_API ag_tensor *ag_median(ag_tensor *t);   /* of all elements */
AG_API ag_tensor *ag_squeeze_all(ag_tensor *t);             /* every size-1 dim removed (a view) */
AG_API ag_tensor *ag_tile(ag_tensor *t, int n, const int64_t *repeats);   /* torch.tile: repeat, with fewer repeats than dims padded by leading 1s */
AG_API ag_tensor *ag_repeat_interleave(ag_tensor *t, int64_t repeats, int dim);   /* [a, b] -> [a, a, b, b] along dim */
AG_API ag_tensor *ag_diagonal(ag_tensor *t, int64_t offset, int d1, int d2);   /* entries (i, i + offset) of dims d1, d2, as the last dim (a copy) */
AG_API ag_tensor *ag_diag(ag_tensor *t, int64_t offset);    /* 1-D: the matrix with t on that diagonal; 2-D: the diagonal */
AG_API ag_tensor *ag_trace(ag_tensor *t);                   /* sum of the diagonal of a 2-D tensor */
typedef enum { AG_PAD_CONSTANT = 0, AG_PAD_REFLECT, AG_PAD_REPLICATE, AG_PAD_CIRCULAR } ag_pad_mode;
AG_API ag_tensor *ag_pad(ag_tensor *t, int n, const int64_t *pads, ag_pad_mode mode, double value);   /* F.pad: (before, after) pairs from the last dim; negative crops */
AG_API ag_tensor *ag_eye(ag_ctx *ctx, ag_dtype dtype, int64_t n, int64_t m);
AG_API ag_tensor *ag_linspace(ag_ctx *ctx, ag_dtype dtype, double start, double end, int64_t steps);
AG_API ag_tensor *ag_logspace(ag_ctx *ctx, ag_dtype dtype, double start, double end, int64_t steps, double base);
AG_API int ag_meshgrid(int n, ag_tensor *const *ts, bool xy, ag_tensor **out);   /* 1-D inputs expanded over the grid (views); n, or -1 */
AG_API ag_tensor *ag_prod(ag_tensor *t);                    /* product of all elements (gradient exact with zeros) */
AG_API ag_tensor *ag_prod_dim(ag_tensor *t, int dim, bool keepdim);
AG_API ag_tensor *ag_cumprod(ag_tensor *t, int dim);
AG_API ag_tensor *ag_cummax(ag_tensor *t, int dim, ag_tensor **indices);   /* running maximum; *indices (may be NULL): F64, ties take the later one */
AG_API ag_tensor *ag_cummin(ag_tensor *t, int dim, ag_tensor **indices);
AG_API ag_tensor *ag_einsum(const char *spec, int n, ag_tensor *const *operands);   /* "ij,jk->ik", ...; contractions as batched matmuls */
AG_API ag_tensor *ag_prelu(ag_tensor *x, ag_tensor *weight);     /* x > 0 ? x : w x, weight [1] or [C] (C = dim 1 of x) */
AG_API ag_tensor *ag_glu(ag_tensor *x, int dim);                 /* a * sigmoid(b), a and b the two halves of dim */
AG_API ag_tensor *ag_normalize(ag_tensor *x, double p, int dim, double eps);   /* x / max(norm_p(x) along dim, eps) (PyTorch: 2, 1, 1e-12) */
AG_API ag_tensor *ag_cosine_similarity(ag_tensor *a, ag_tensor *b, int dim, double eps);   /* a.b / max(|a| |b|, eps) along dim, broadcast (PyTorch: 1, 1e-8) */
AG_API ag_tensor *ag_pairwise_distance(ag_tensor *a, ag_tensor *b, double p, double eps);  /* norm_p(a - b + eps) over the last dim (PyTorch: 2, 1e-6) */
AG_API ag_tensor *ag_rms_norm(ag_tensor *x, ag_tensor *weight, double eps);   /* x / sqrt(mean(x^2 over the last dim) + eps) * weight (may be NULL) */
/* losses: reduction AG_MEAN (0, the default), AG_SUM, AG_NONE (per element), AG_BATCHMEAN (kl_div: sum / N) */
typedef enum { AG_MEAN = 0, AG_SUM = 1, AG_NONE = 2, AG_BATCHMEAN = 3 } ag_reduction;
AG_API ag_tensor *ag_mse_loss_ex(ag_tensor *input, ag_tensor *target, ag_reduction r);   /* (a - b)^2, reduced (ag_mse_loss: the mean) */
AG_API ag_tensor *ag_l1_loss(ag_tensor *input, ag_tensor *target, ag_reduction r);
AG_API ag_tensor *ag_smooth_l1_loss(ag_tensor *input, ag_tensor *target, double beta, ag_reduction r);   /* |d| < beta ? d^2 / (2 beta) : |d| - beta / 2 */
AG_API ag_tensor *ag_huber_loss(ag_tensor *input, ag_tensor *target, double delta, ag_reduction r);      /* |d| < delta ? d^2 / 2 : delta (|d| - delta / 2) */
AG_API ag_tensor *ag_bce_loss(ag_tensor *probs, ag_tensor *target, ag_reduction r);   /* probabilities in [0, 1]; each log clamped at -100, as PyTorch */
AG_API ag_tensor *ag_kl_div(ag_tensor *log_probs, ag_tensor *target, ag_reduction r, bool log_target);   /* target (log target - input), 0 where target = 0 */
AG_API ag_tensor *ag_nll_loss(ag_tensor *log_probs, const int32_t *targets, ag_reduction r);   /* -log_probs[n, targets[n]]; log_probs [N, C] or [C] */
AG_API ag_tensor *ag_nll_loss_t(ag_tensor *log_probs, ag_tensor *targets, ag_reduction r);     /* with an I32/I64 target tensor */
/* cross-entropy with PyTorch's options (zero-filled: mean, no weights, no smoothing; set
   ignore_index yourself, PyTorch's default is -100): class targets, or probabilities per class */
typedef struct {
    ag_tensor *weight;        /* [C] per class, or NULL */
    int64_t ignore_index;     /* rows with this target add nothing and are not counted */
    double label_smoothing;   /* in [0, 1] */
    ag_reduction reduction;
} ag_cross_entropy_opts;
AG_API ag_tensor *ag_cross_entropy_ex(ag_tensor *logits, const int32_t *targets, const ag_cross_entropy_opts *opts);
AG_API ag_tensor *ag_cross_entropy_probs(ag_tensor *logits, ag_tensor *target_probs, const ag_cross_entropy_opts *opts);
AG_API ag_tensor *ag_bce_with_logits_ex(ag_tensor *logits, ag_tensor *targets, ag_tensor *weight, ag_tensor *pos_weight, ag_reduction r);

/* ==== >>backward ==== */
typedef struct {
    ag_tensor *grad;     /* seed: d root; NULL means 1 (root must have one element) */
    bool retain_graph;   /* keep the graph for another backward */
    bool create_graph;   /* record the backward pass, for higher-order gradients (implies retain_graph) */
} ag_backward_opts;
AG_API int ag_backward(ag_tensor *root, const ag_backward_opts *opts);   /* 0 ok, -1 error; NULL opts: scalar root, seed 1 */
/* like torch.autograd.grad: gradients of root w.r.t. inputs, written to grads[i]
   (a zero tensor where root does not depend on inputs[i]); leaves' .grad untouched */
AG_API int ag_grad_of(ag_tensor *root, const ag_backward_opts *opts, int n, ag_tensor *const *inputs, ag_tensor **grads);

/* ==== >>inplace: in-place ops ====
   t op= x through t's storage (and every view of it); returns t, or NULL with an error. Each
   bumps the storage's version (ag_version); a backward that would read a value overwritten
   since it was saved fails with a message naming the op and the tensor, as in PyTorch. Under
   autograd t becomes the node of the op; a leaf that requires grad cannot be modified in place
   while recording (update parameters under ag_set_grad_enabled(ctx, false)). clamp_, fill_,
   zero_ and copy_ are not differentiable in place. On a view of a tensor in the graph the
   op writes through to the base, whose history becomes copy_slices (PyTorch's CopySlices),
   and views made before the write get a fresh history (as_strided of the base) when used
   again, so gradients and tangents through them are PyTorch's; refused: a view of a leaf
   that requires grad, an expanded view, a view without history (ag_detach's). */
AG_API ag_tensor *ag_add_(ag_tensor *t, ag_tensor *x);
AG_API ag_tensor *ag_sub_(ag_tensor *t, ag_tensor *x);
AG_API ag_tensor *ag_mul_(ag_tensor *t, ag_tensor *x);
AG_API ag_tensor *ag_div_(ag_tensor *t, ag_tensor *x);
AG_API ag_tensor *ag_add_scalar_(ag_tensor *t, double s);
AG_API ag_tensor *ag_mul_scalar_(ag_tensor *t, double s);
AG_API ag_tensor *ag_relu_(ag_tensor *t);
AG_API ag_tensor *ag_clamp_(ag_tensor *t, double lo, double hi);
AG_API ag_tensor *ag_fill_(ag_tensor *t, double v);
AG_API ag_tensor *ag_zero_(ag_tensor *t);
AG_API ag_tensor *ag_copy_(ag_tensor *dst, ag_tensor *src);   /* src broadcast to dst's shape */
AG_API uint32_t   ag_version(const ag_tensor *t);

/* ==== >>forward: forward-mode AD ====
   ag_make_dual(x, t) is x carrying the tangent t (the direction dx): every op computed from
   it carries d result = J dx beside its value, computed at once by the op's JVP rule, so one
   forward pass gives a Jacobian-vector product (PyTorch's torch.autograd.forward_ad). Results
   that do not depend on a dual have no tangent (zero). One level: a tangent cannot carry a
   tangent of its own. Tangent computations are ops like any other: with grad mode on they
   are recorded, so a tangent can be differentiated in reverse mode (reverse-over-forward).
   For forward-over-reverse (e.g. a Hessian-vector product), take the gradient with
   create_graph. In-place ops update the tensor's tangent; fill_ and zero_ clear it. */
AG_API ag_tensor *ag_make_dual(ag_tensor *primal, ag_tensor *tangent);   /* a view of primal (differentiable), tangent converted to its dtype */
AG_API ag_tensor *ag_tangent(const ag_tensor *t);                        /* t's tangent; NULL means zero */

/* a function of tensors, for ag_checkpoint, ag_gradcheck and the functional API */
typedef ag_tensor *(*ag_fn)(ag_ctx *ctx, ag_tensor **inputs, void *user);

/* ==== >>hooks: hooks, anomaly mode, custom functions, checkpointing ==== */
/* fn(grad, user) runs on t's complete gradient during backward (for a leaf: once, on the sum
   of all its uses, before it is accumulated); it may return a replacement of the same shape,
   or NULL to keep the gradient. Hooks on persistent tensors persist; others end at reset. */
AG_API int ag_register_hook(ag_tensor *t, ag_tensor *(*fn)(ag_tensor *grad, void *user), void *user);
AG_API ag_tensor *ag_hook_clamp(ag_tensor *grad, void *user);   /* clamps to [-b, b], user = &b (double): per-parameter clipping */
/* anomaly mode: backward checks every gradient it computes and stops at the first NaN or Inf,
   naming the op whose backward produced it and the op that made that input. Returns the previous state. */
AG_API bool ag_set_anomaly_detection(ag_ctx *ctx, bool on);

/* A custom op: forward computes the output from the inputs (nothing inside is recorded and no
   tangent propagates; it may keep tensors with ag_save_for_backward); backward writes
   grads[i] = dL/d input i from grad_out. Written with the library's ops, the backward
   supports create_graph; a NULL grads[i] means zero. Optional jvp (forward mode): writes
   *tangent_out = sum_i d out / d input i . tangents[i] (NULL tangents[i] and a NULL result
   mean zero); without it a tangent reaching the op is an error. Like torch.autograd.Function.
   As in PyTorch, the values backward reads are the ones saved: an in-place change to a saved
   tensor (or to an input or the output that shares its storage) makes backward stop with an
   error; inputs and outputs that were not saved may be changed in place, so save the inputs
   whose values backward reads through ag_custom_input. */
typedef struct ag_custom ag_custom;
typedef struct {
    const char *name;    /* what ag_op returns */
    ag_tensor *(*forward)(ag_custom *c, ag_tensor **inputs, int n, void *user);
    int (*backward)(ag_custom *c, ag_tensor *grad_out, ag_tensor **grads, void *user);   /* 0 ok */
    int (*jvp)(ag_custom *c, ag_tensor *const *tangents, ag_tensor **tangent_out, void *user);   /* 0 ok; may be NULL */
} ag_function;
AG_API ag_tensor *ag_apply(const ag_function *fn, int n, ag_tensor *const *inputs, void *user);
AG_API int        ag_save_for_backward(ag_custom *c, int n, ag_tensor *const *tensors);
AG_API ag_tensor *ag_saved(const ag_custom *c, int i);
AG_API ag_tensor *ag_custom_input(const ag_custom *c, int i);
AG_API ag_tensor *ag_custom_output(const ag_custom *c);

/* ==== >>replay: record one training step, run it again on new data ====
       ag_capture_begin(ctx);
       loss = ...forward...;  ag_backward(loss, NULL);
       ag_capture *g = ag_capture_end(ctx);
       each frame: write new data into the inputs, zero the gradients, ag_replay(g), step.
   While capturing, every kernel the step runs is recorded in order: ops, the copies inside
   views, concatenations and in-place ops, gradient accumulation into leaves, random draws
   (rand, randn, dropout). ag_replay runs them again on the same tensors: no graph is built,
   nothing is checked or allocated, and the results are bit-identical to building the step
   again (the random draws come from the context's RNG in the same order). The inputs must
   be tensors made before ag_capture_begin (arena or persistent); write each frame's data into
   them (ag_data, or ag_copy_ under no-grad). Gradients accumulate as with ag_backward: zero
   them before each replay. Integer index arrays (gather_rows, embedding, cross_entropy
   targets) are read again from the caller's pointers at each replay: keep them alive and
   write each frame's indices into them (one out of range makes ag_replay fail with the op's
   message). Reused as recorded: shapes, op parameters and tensors made inside the capture
   that no op computes (ag_from, ag_full, ...). The recorded tensors live in the arena, so
   ag_ctx_reset ends the capture (ag_replay then fails; capture again). Not recordable, an
   error while capturing: custom ops, checkpoints, gradient hooks, batch norm's running
   statistics, optimizer steps, gradient clipping, initialisers, loading, gradcheck and
   Jacobians. ag_capture_end returns NULL if the step failed or was not recordable (the
   error is on the context). ag_replay returns 0, or -1 with an error. */
typedef struct ag_capture ag_capture;   /* a recorded step ("graph" means the autograd graph of >>graph) */
AG_API int         ag_capture_begin(ag_ctx *ctx);
AG_API ag_capture *ag_capture_end(ag_ctx *ctx);
AG_API int         ag_replay(ag_capture *g);
AG_API size_t      ag_capture_steps(const ag_capture *g);   /* kernels recorded */
/* Fusion (on by default): runs of consecutive elementwise kernels over tensors of one size (4096
   elements or more: the ops of gelu, layer_norm, their backward, ...) replay a chunk of 1024
   elements at a time through every kernel of the run, while the chunk is in L1, instead of each
   kernel over the whole tensors; the pool shares the chunks out. Each element goes through the
   same operations in the same order: the same bits as unfused. Returns the kernels that run
   fused (on = false: 0, every kernel on its own); -1 for NULL. */
AG_API long        ag_capture_fuse(ag_capture *g, bool on);
AG_API void        ag_capture_free(ag_capture *g);          /* the record only (the tensors are the arena's); NULL is fine */

/* Gradient checkpointing: f(inputs) without keeping its intermediates (their memory goes back to
   the arena when f returns, only the output stays: keep no pointers to tensors f made); backward
   runs f again to get them, and gives their memory back to the arena afterwards. With create_graph the
   recomputed graph is kept and linked to the inputs, so gradients can be differentiated again. */
AG_API ag_tensor *ag_checkpoint(ag_fn f, void *user, int n, ag_tensor *const *inputs);

/* ==== >>graph: walking the graph, like grad_fn / next_functions ==== */
AG_API const char *ag_op(const ag_tensor *t);              /* "matmul", "add", ...; NULL for a leaf */
AG_API int         ag_num_inputs(const ag_tensor *t);
AG_API ag_tensor  *ag_input(const ag_tensor *t, int i);
AG_API int         ag_graph_dot(const ag_tensor *root, ag_file *f);    /* Graphviz DOT; 0 ok */
/* a label for t (copied, at most 63 bytes kept): shown by ag_graph_dot and in error messages
   about t ("matmul: 'x' [2, 3] @ 'W1' [4, 5]: ..."). Returns t; NULL name clears it. */
AG_API ag_tensor  *ag_set_name(ag_tensor *t, const char *name);
AG_API const char *ag_name(const ag_tensor *t);                     /* NULL if unnamed */
/* what ag_graph_dot_ex draws; zero-filled: ag_graph_dot's picture */
typedef struct {
    bool values;      /* each tensor's data: up to 6 values in full, more as shape, min, max, mean */
    bool grads;       /* and its gradient where it has one (leaves; nodes kept with ag_retain_grad) */
    bool op_nodes;    /* micrograd's layout: data boxes left to right, each op a circle between them */
} ag_dot_opts;
AG_API int         ag_graph_dot_ex(const ag_tensor *root, ag_file *f, const ag_dot_opts *opts);

/* ==== >>gradcheck: gradient checking ==== */
typedef struct {
    double eps;          /* finite-difference step; 0: 1e-6 */
    double atol, rtol;   /* pass if |analytic - numeric| <= atol + rtol |numeric|; 0: 1e-5, 1e-3 */
    bool second_order;   /* also check the gradient of the gradient (create_graph) */
} ag_gradcheck_opts;
typedef struct {
    double max_abs_err;  /* worst |analytic - numeric| */
    double max_rel_err;  /* worst |analytic - numeric| / max(1, |numeric|) */
    int worst_input;     /* which input, -1 if none */
    int64_t worst_index; /* row-major element index in that input */
    double analytic, numeric;   /* the values at the worst element */
    int order;           /* 1 or 2: which check the worst error came from */
} ag_gradcheck_result;
/* Compares the analytic gradient of f (its output weighted by fixed random numbers, then
   summed) with central differences in F64. inputs must be F64 tensors that require grad.
   Returns 1 if within tolerance, 0 if not, -1 on error. Inputs' .grad is not touched. */
AG_API int ag_gradcheck(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor **inputs,
                        const ag_gradcheck_opts *opts, ag_gradcheck_result *result);


/* ==== >>optim: optimizers, loss scaling, learning-rate schedules, clipping, initialisation ====
   ---- optimizers ----
   PyTorch's update rules (torch.optim.SGD / Adam / AdamW, single-tensor path) over
   a list of parameters. State (momentum buffers, moments) is persistent memory in
   the parameters' dtype, allocated once by ag_*_new; ag_optim_step allocates
   nothing. The optimizer lives until ag_ctx_free, like the parameters.
   A parameter without a gradient is skipped (its step count does not advance).
   Fill options from ag_*_defaults() (PyTorch's defaults), or pass NULL for the defaults.
   Unlike the other option structs, a zero-filled one is not the defaults (a beta or a
   momentum of 0 is a real choice): creating an optimizer with lr 0 is refused, so a
   forgotten lr is an error, not a model that silently never trains (ag_optim_set_lr
   accepts 0 later, for schedules). */
typedef struct ag_optim ag_optim;
typedef struct {
    double lr;            /* 1e-3 */
    double momentum;      /* 0 */
    double dampening;     /* 0 */
    double weight_decay;  /* 0; L2 penalty added to the gradient */
    bool nesterov;        /* needs momentum > 0 and dampening 0 */
    bool maximize;
} ag_sgd_opts;
typedef struct {
    double lr;            /* 1e-3 */
    double beta1, beta2;  /* 0.9, 0.999 */
    double eps;           /* 1e-8 */
    double weight_decay;  /* Adam: 0, added to the gradient; AdamW: 0.01, decoupled (p *= 1 - lr wd) */
    bool amsgrad;
    bool maximize;
} ag_adam_opts;
AG_API ag_sgd_opts  ag_sgd_defaults(void);
AG_API ag_adam_opts ag_adam_defaults(void);
AG_API ag_adam_opts ag_adamw_defaults(void);
AG_API ag_optim *ag_sgd_new(ag_ctx *ctx, ag_tensor *const *params, int n, const ag_sgd_opts *opts);
AG_API ag_optim *ag_adam_new(ag_ctx *ctx, ag_tensor *const *params, int n, const ag_adam_opts *opts);
AG_API ag_optim *ag_adamw_new(ag_ctx *ctx, ag_tensor *const *params, int n, const ag_adam_opts *opts);
AG_API int    ag_optim_step(ag_optim *opt);          /* 0 ok, -1 error */
AG_API void   ag_optim_free(ag_optim *opt);          /* its state's memory back now (else at ag_ctx_free); NULL is fine */
AG_API void   ag_optim_zero_grad(ag_optim *opt);     /* ag_zero_grad on every parameter (set to none) */
AG_API void   ag_optim_set_lr(ag_optim *opt, double lr);
AG_API double ag_optim_get_lr(const ag_optim *opt);
AG_API int64_t ag_optim_steps(const ag_optim *opt, int i);   /* steps taken by parameter i (Adam's bias-correction count) */

/* ---- dynamic loss scaling, as torch.cuda.amp.GradScaler (mixed precision: README) ----
   A 16-bit backward loses small gradients to underflow (F16: below 6e-8) unless the loss is
   multiplied by a large scale first; the scaler picks the scale as PyTorch's does:
       ag_tensor *loss = ag_cross_entropy(logits16, labels);
       ag_optim_zero_grad(opt);
       ag_backward(ag_scaler_scale(s, loss), NULL);   // gradients are scale x the true ones
       ag_scaler_step(s, opt);                        // unscale; step unless one is inf or NaN
       ag_scaler_update(s);                           // back off after an overflow, grow after a quiet run
   The scale is an F32 value (as torch's scale tensor): unscaling multiplies every gradient by
   the F32 reciprocal, and a step is skipped when any gradient is inf or NaN (tested on the bits,
   so -ffast-math cannot fold it away). Calls per optimizer between two updates, as PyTorch allows:
   ag_scaler_unscale at most once (before ag_clip_grad_norm, which must see true gradients),
   then ag_scaler_step once. The scaler lives until ag_ctx_free (or ag_grad_scaler_free) and
   allocates nothing per step. A zero-filled ag_grad_scaler_opts (or NULL) means the defaults. */
typedef struct ag_grad_scaler ag_grad_scaler;
typedef struct {
    double init_scale;       /* 0: 65536 (2^16); must be finite and > 0 in F32 */
    double growth_factor;    /* 0: 2; must be > 1 */
    double backoff_factor;   /* 0: 0.5; must be in (0, 1) */
    int growth_interval;     /* 0: 2000 steps without inf or NaN before the scale grows; must be >= 1 */
} ag_grad_scaler_opts;
AG_API ag_grad_scaler *ag_grad_scaler_new(ag_ctx *ctx, const ag_grad_scaler_opts *opts);   /* NULL + error on bad options */
AG_API void       ag_grad_scaler_free(ag_grad_scaler *s);   /* its memory back now (after ag_ctx_reset); NULL is fine */
/* loss x scale, differentiable (a graph node reading the scaler's scale when it runs, so a
   captured step replays with the current scale); a 16-bit loss is converted to F32 first */
AG_API ag_tensor *ag_scaler_scale(ag_grad_scaler *s, ag_tensor *loss);
/* every gradient of opt's parameters *= 1/scale in place, and note whether one was inf or NaN
   (torch's scaler.unscale_). 0 ok, -1 error (twice, or after ag_scaler_step, before an update) */
AG_API int    ag_scaler_unscale(ag_grad_scaler *s, ag_optim *opt);
/* ag_scaler_unscale unless done, then ag_optim_step unless a gradient was inf or NaN:
   1 stepped, 0 skipped, -1 error (a second step before ag_scaler_update, no gradients) */
AG_API int    ag_scaler_step(ag_grad_scaler *s, ag_optim *opt);
/* after the steps: an inf or NaN since the last update: scale *= backoff, and the count of
   good steps restarts; else count + 1, and at growth_interval scale *= growth (unless that
   overflows F32), count 0. 0 ok, -1 error (no ag_scaler_unscale or _step since the last update) */
AG_API int    ag_scaler_update(ag_grad_scaler *s);
AG_API double ag_scaler_get_scale(const ag_grad_scaler *s);     /* NaN for NULL */
AG_API int    ag_scaler_growth_tracker(const ag_grad_scaler *s); /* good steps counted towards the next growth; -1 for NULL */

/* ---- learning-rate schedules: the lr for the 0-based step about to be taken ---- */
AG_API double ag_lr_step(int step, int step_size, double gamma, double base_lr);   /* StepLR: base gamma^floor(step/step_size) */
/* linear warm-up base (step+1)/warmup for step < warmup, then cosine from base_lr down to
   min_lr at step total (and min_lr after): min + (base - min)(1 + cos(pi (step-warmup)/(total-warmup)))/2 */
AG_API double ag_lr_cosine(int step, int warmup, int total, double base_lr, double min_lr);

/* ---- gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ ----
   Parameters without a gradient are skipped. norm_type: 2 usually, INFINITY for the max.
   Returns the total norm before clipping (NaN on error); grads are scaled by
   max_norm / (total + 1e-6) when that is below 1. */
AG_API double ag_clip_grad_norm(ag_tensor *const *params, int n, double max_norm, double norm_type);
AG_API int    ag_clip_grad_value(ag_tensor *const *params, int n, double clip_value);   /* clamp to [-v, v]; 0 ok */

/* ---- initialisation, in place, from the context's RNG (torch.nn.init) ----
   fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field, where the
   receptive field is the product of shape[2:]; fans need ndim >= 2. All return 0 ok, -1 error. */
typedef enum { AG_FAN_IN, AG_FAN_OUT } ag_fan;
typedef enum { AG_NL_LINEAR, AG_NL_SIGMOID, AG_NL_TANH, AG_NL_RELU, AG_NL_LEAKY_RELU, AG_NL_SELU } ag_nonlinearity;
AG_API double ag_init_gain(ag_nonlinearity nl, double negative_slope);   /* calculate_gain: 1, 1, 5/3, sqrt 2, sqrt(2/(1+s^2)), 3/4 */
AG_API int ag_init_uniform(ag_tensor *t, double lo, double hi);          /* U[lo, hi) */
AG_API int ag_init_normal(ag_tensor *t, double mean, double std);
AG_API int ag_init_constant(ag_tensor *t, double value);
AG_API int ag_init_xavier_uniform(ag_tensor *t, double gain);            /* U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)) */
AG_API int ag_init_xavier_normal(ag_tensor *t, double gain);             /* N(0, gain^2 2 / (fan_in + fan_out)) */
/* a: leaky_relu's negative slope (used when nl is AG_NL_LEAKY_RELU); std = gain / sqrt(fan) */
AG_API int ag_init_kaiming_uniform(ag_tensor *t, double a, ag_fan mode, ag_nonlinearity nl);
AG_API int ag_init_kaiming_normal(ag_tensor *t, double a, ag_fan mode, ag_nonlinearity nl);
/* nn.Linear's default for W [out, in] (and b [out], which may be NULL): both U(-1/sqrt(in), 1/sqrt(in)) */
AG_API int ag_init_linear(ag_tensor *W, ag_tensor *b);

#ifndef AG_NO_SAFETENSORS
/* ==== >>safetensors: named tensors of every dtype, as the Hugging Face format (AG_NO_SAFETENSORS drops it) ====
   File: 8-byte little-endian header size N, N bytes of JSON
   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
    "__metadata__": {"format": "pt"}}, padded with spaces, then the raw little-endian data.
   Saving writes the tensors in the given order (any strides). Names must be distinct
   and not "__metadata__". */
AG_API int    ag_save_safetensors(ag_ctx *ctx, const char *path, int n, const char *const *names, ag_tensor *const *tensors);
/* the same file in memory: returns the bytes needed and writes them only when they fit in cap; 0 on error */
AG_API size_t ag_save_safetensors_mem(ag_ctx *ctx, void *buf, size_t cap, int n, const char *const *names, ag_tensor *const *tensors);
/* Loads names[i] into tensors[i]: an existing tensor must have the file's dtype and
   shape; a NULL entry gets a new persistent tensor (ag_persistent: no grad). The whole
   file is validated first (strict JSON, known dtypes, offsets that tile the data
   exactly), so on error nothing is written. n may be 0 (just validate). 0 ok, -1 error. */
AG_API int    ag_load_safetensors(ag_ctx *ctx, const char *path, int n, const char *const *names, ag_tensor **tensors);
AG_API int    ag_load_safetensors_mem(ag_ctx *ctx, const void *buf, size_t len, int n, const char *const *names, ag_tensor **tensors);
#endif /* AG_NO_SAFETENSORS */

#ifndef AG_NO_FUNCTIONAL
/* ==== >>functional: gradients of a function of tensors, like torch.autograd.functional ====
   (AG_NO_FUNCTIONAL drops it)


   Each call takes f (an ag_fn: ag_tensor *f(ag_ctx *, ag_tensor **inputs, void *user)),
   the user pointer handed to it, and n inputs (1 to AG_FUNCTIONAL_MAX_INPUTS). f is
   called once with grad enabled on fresh leaves that require grad: detached views of
   the inputs (they share storage; f must not write to them). So the caller's tensors
   and their .grad are never touched, and the inputs need not require grad.

   create_graph false: every result is a fresh tensor that is not part of any graph.
   create_graph true: the results are recorded, and differentiable with respect to the
   caller's inputs that require grad (those are passed to f through an identity view
   instead of a detached copy, as PyTorch does), so they can be differentiated again.

   Results are arena tensors (valid until ag_ctx_reset). A part of the output that does
   not depend on an input gets zeros (PyTorch's strict=False). Every function returns 0,
   or -1 with a message on the context naming the function ("vjp: ...") and every result
   pointer set to NULL: a NULL or foreign input, n out of range, a NULL f, f returning
   NULL (the error of the op that failed inside f is kept, being the first), a v or u of
   the wrong shape, a function that is not scalar where one is needed.

   ag_jvp and ag_jacobian_fwd use forward mode (ag_make_dual): no reverse pass. */
#define AG_FUNCTIONAL_MAX_INPUTS 16

/* output = f(inputs) (may be NULL if not wanted) and vjps[i] = v^T d f / d inputs[i]
   (shape of inputs[i]). v has the output's shape; NULL v means 1 and needs a
   single-element output. */
AG_API int ag_vjp(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs, ag_tensor *v,
                  ag_tensor **output, ag_tensor **vjps, bool create_graph);

/* output = f(inputs) (may be NULL) and jvp = sum_i d f / d inputs[i] . u[i] (the output's
   shape): the Jacobian times the tangents u[i] (each of inputs[i]'s shape). NULL u means 1
   and needs one single-element input. One forward pass with inputs[i] carrying u[i] (forward
   mode); with create_graph the result is differentiable with respect to the inputs and u. */
AG_API int ag_jvp(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs, ag_tensor *const *u,
                  ag_tensor **output, ag_tensor **jvp, bool create_graph);

/* jac[i] = d f / d inputs[i], shape out.shape + inputs[i].shape (so a 0-d output gives
   the gradient's shape), dtype of inputs[i]. Reverse mode: one vjp per output element
   (with one-hot v); the graph of f is built once. Needs ndim(out) + ndim(in) <= AG_MAX_DIMS. */
AG_API int ag_jacobian(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs,
                       ag_tensor **jac, bool create_graph);

/* The same Jacobians by forward mode: one forward pass per element of the inputs, each with
   a one-hot tangent. Cheaper than ag_jacobian when the inputs have fewer elements than the
   output. */
AG_API int ag_jacobian_fwd(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs,
                           ag_tensor **jac, bool create_graph);

/* For a scalar (single-element) f: hess[i * n + j] = d^2 f / d inputs[i] d inputs[j],
   shape inputs[i].shape + inputs[j].shape; n * n results. The Jacobian of the gradient
   (recorded with create_graph), one vjp per element of each input. */
AG_API int ag_hessian(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs,
                      ag_tensor **hess, bool create_graph);

/* For a scalar f: output = f(inputs) (may be NULL) and hvps[i] = sum_j H[i][j] v[j]
   (inputs[i]'s shape), the Hessian-vector product by double backward: the gradient of
   <grad f, v>. Exact for any f whose Hessian is symmetric (every f made of this library's
   ops, away from kinks); costs two reverse passes, never forms H. */
AG_API int ag_hvp(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs, ag_tensor *const *v,
                  ag_tensor **output, ag_tensor **hvps, bool create_graph);

/* Per-example gradients of linear layers, for a batch, in one backward pass (the gradient
   of a linear layer's weight is a sum over the batch of outer products g x^T, so keeping
   the terms apart gives every example's gradient). ys[i] must be ag_linear(xs[i], W_i, b_i) with
   xs[i] [B, ..., in] and ys[i] [B, ..., out] (dim 0 the batch), and the examples must not
   interact (no batch norm; each example's loss depends on its rows only). loss: the
   per-example losses [B] (or any tensor; its elements are summed, so a mean gives each
   example's gradient divided by B). Writes dW[i] = d loss_b / d W_i for every example b,
   [B, out, in], and db[i] = d loss_b / d b_i, [B, out] (db may be NULL). One backward to
   the layer outputs (the leaves' .grad untouched, the graph kept as with retain_graph),
   then one batched product per layer: dW_b = sum_t g_bt x_bt^T. 0 ok, -1 error. */
AG_API int ag_per_example_linear_grads(ag_tensor *loss, int n, ag_tensor *const *xs, ag_tensor *const *ys,
                                       ag_tensor **dW, ag_tensor **db);

/* ---- >>vmap: map a function over a batch, like torch.func.vmap ----
   ag_vmap calls f ONCE. Each input i with in_dims[i] != AG_UNBATCHED reaches f as one example:
   inputs[i] without dim in_dims[i] (negative counts from the end); the others reach f as they
   are, shared by every example. f writes n_out tensors to its outputs array and returns 0.
   outputs[j] is then f's output j for every example stacked at dim out_dims[j] (NULL in_dims or
   out_dims: all 0): the same values as calling f on each example and stacking (ag_stack), but
   computed as one batched computation (elementwise ops run once over the whole batch).

   Inside f, tensors are written for one example: ag_shape and every message give an example's
   shape. Every op works on them; gradients too: ag_grad_of, ag_vjp, ag_jvp and ag_backward
   inside f give per-example results (per-example gradients are vmap of grad_of, tests/test_vmap.c
   and examples/per_example_grads.c), ag_vmap nests (AG__VMAP_MAX levels: 4), and the outputs are
   differentiable: a backward through them sums over the examples as PyTorch does.

   Refused inside f, with a message: reading or writing one example's data (ag_item, ag_get,
   ag_data, ag_copy_out, ag_print, in-place ops, saving), random numbers (they would be the same
   for every example: draw them outside and pass them in batched), capturing for ag_replay,
   index tensors batched per example except for gather_t, cross_entropy_t and nll_loss_t, and
   keeping a tensor from inside f to use after ag_vmap returns. A custom op
   (ag_apply) is batched through the ops its forward and backward use; a checkpoint runs its
   function as it is (batched, without the memory saving).
   Returns 0, or -1 with a message and every outputs[j] NULL: NULL or foreign inputs, n_in or
   n_out out of 1..AG_FUNCTIONAL_MAX_INPUTS, an in_dims or out_dims entry out of range, batched
   inputs of different batch sizes, a batch size of 0, no batched input, f failing (the first
   error inside f is kept) or leaving an output NULL. */
#define AG_UNBATCHED (-1000)
typedef int (*ag_vmap_fn)(ag_ctx *ctx, ag_tensor **inputs, ag_tensor **outputs, void *user);
AG_API int ag_vmap(ag_ctx *ctx, ag_vmap_fn f, void *user, int n_in, ag_tensor *const *inputs, const int *in_dims,
                   int n_out, ag_tensor **outputs, const int *out_dims);
#endif /* AG_NO_FUNCTIONAL */

#ifndef AG_NO_LAYERS
/* ==== >>layers: conv2d, pools, batch norm, embedding, attention (AG_NO_LAYERS drops them) ====
   Layers are compositions of the library's ops (slice, cat, reshape, matmul,
   max_dim, mean_dim, softmax, gather_rows, ...), so each has the same backward
   and double backward (create_graph) as the ops it is made of.
   Images are NCHW, as in PyTorch. */

/* conv2d options. Zero fields mean PyTorch's defaults: stride 1, no padding,
   dilation 1, one group. Fill with memset(&o, 0, sizeof o), then set fields. */
typedef struct {
    int stride_h, stride_w;   /* 0: 1 */
    int pad_h, pad_w;         /* zeros added on each side */
    int dil_h, dil_w;         /* 0: 1 */
    int groups;               /* 0: 1; must divide the input and output channel counts */
} ag_conv2d_opts;

/* x [N, C, H, W], W [O, C/groups, kh, kw], b [O] or NULL -> [N, O, OH, OW],
   OH = (H + 2 pad_h - dil_h (kh - 1) - 1) / stride_h + 1 (likewise OW). NULL opts: defaults.
   The result is a view (of an [O, N, OH, OW] buffer): walk it with ag_strides, or ag_contiguous. */
AG_API ag_tensor *ag_conv2d(ag_tensor *x, ag_tensor *W, ag_tensor *b, const ag_conv2d_opts *opts);
/* x [N, C, H, W] -> [N, C, OH, OW]; stride 0 means the kernel size (PyTorch's default);
   padding at most half the kernel. max: the gradient goes to each window's maximum,
   the first of equal ones (a NaN: the last NaN), as PyTorch's (windows only of padding,
   possible with dilation, are -inf and share it among ties). avg counts the padding
   zeros (count_include_pad=True). */
AG_API ag_tensor *ag_max_pool2d(ag_tensor *x, int kh, int kw, int stride_h, int stride_w, int pad_h, int pad_w);
AG_API ag_tensor *ag_avg_pool2d(ag_tensor *x, int kh, int kw, int stride_h, int stride_w, int pad_h, int pad_w);
/* Batch norm over dim 1 of x [N, C], [N, C, L] or [N, C, H, W]; weight, bias [C] or NULL.
   training: normalise with the batch statistics (biased variance) and, when running_mean
   and running_var ([C], not requiring grad, e.g. from ag_persistent) are given, update
   them in place: r = (1 - momentum) r + momentum s, with the unbiased variance (PyTorch:
   momentum 0.1, eps 1e-5). Not training: normalise with the running statistics. */
AG_API ag_tensor *ag_batch_norm(ag_tensor *x, ag_tensor *weight, ag_tensor *bias, ag_tensor *running_mean,
                                ag_tensor *running_var, bool training, double momentum, double eps);
/* weight [V, D]; index has the given shape (ndim entries, ndim may be 0) -> [shape..., D] */
AG_API ag_tensor *ag_embedding(ag_tensor *weight, int ndim, const int64_t *shape, const int32_t *index);
/* Multi-head causal self-attention, as a GPT block's: x [B, T, C] -> [B, T, C].
   Wqkv [3C, C] (the q, k, v projections stacked, like nn.Linear(C, 3C)), bqkv [3C] or NULL,
   Wo [C, C], bo [C] or NULL; n_head must divide C. Per head: softmax(q k^T / sqrt(C / n_head)
   + mask) v with mask -inf above the diagonal; heads concatenated, then @ Wo^T + bo. The same
   as torch.nn.MultiheadAttention (in_proj_weight = Wqkv, out_proj.weight = Wo) with a causal mask. */
AG_API ag_tensor *ag_causal_self_attention(ag_tensor *x, ag_tensor *Wqkv, ag_tensor *bqkv, ag_tensor *Wo, ag_tensor *bo,
                                           int n_head);
/* Recurrent cells, PyTorch's gate layout (so nn.LSTMCell / nn.GRUCell weights load as they are):
   x [N, I] (or [I]), h and c [N, H] (or [H]), w_ih [G H, I], w_hh [G H, H], b_ih and b_hh [G H] or NULL.
   LSTM (G = 4, gates i, f, g, o): c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c');
   writes h' and c', returns 0 (-1 and a message on bad input).
   GRU (G = 3, gates r, z, n): n = tanh(n_x + sigmoid(r) (n_h)), h' = (1 - sigmoid(z)) n + sigmoid(z) h. */
/* pools with every option of PyTorch's: zero fields are its defaults (stride = kernel, no padding,
   dilation 1, floor mode, the padding counted by avg). kh and kw must be set. */
typedef struct {
    int kh, kw;
    int stride_h, stride_w;   /* 0: the kernel size */
    int pad_h, pad_w;         /* at most half the kernel */
    int dil_h, dil_w;         /* 0: 1 (max pool only) */
    bool ceil_mode;           /* round the output size up (a last, partial window) */
    bool exclude_pad;         /* avg: divide by the window's positions inside the input (count_include_pad=False) */
} ag_pool2d_opts;
AG_API ag_tensor *ag_max_pool2d_ex(ag_tensor *x, const ag_pool2d_opts *opts);
AG_API ag_tensor *ag_avg_pool2d_ex(ag_tensor *x, const ag_pool2d_opts *opts);
AG_API ag_tensor *ag_max_pool2d_indices(ag_tensor *x, const ag_pool2d_opts *opts);   /* I64 h W + w of each maximum (return_indices) */
AG_API ag_tensor *ag_max_unpool2d(ag_tensor *x, ag_tensor *indices, int64_t out_h, int64_t out_w);
AG_API ag_tensor *ag_adaptive_avg_pool2d(ag_tensor *x, int64_t out_h, int64_t out_w);   /* [N, C, H, W] or [C, H, W] */
AG_API ag_tensor *ag_adaptive_max_pool2d(ag_tensor *x, int64_t out_h, int64_t out_w);
/* x [N, C, L], W [O, C/groups, k], b [O] or NULL; stride and dilation 0 mean 1 */
AG_API ag_tensor *ag_conv1d(ag_tensor *x, ag_tensor *W, ag_tensor *b, int stride, int padding, int dilation, int groups);
/* transposed convolutions (PyTorch's layout: W [in_channels, out_channels/groups, kh, kw]);
   OH = (H - 1) stride - 2 pad + dil (kh - 1) + output_pad + 1. Zero fields: PyTorch's defaults. */
typedef struct {
    int stride_h, stride_w, pad_h, pad_w, output_pad_h, output_pad_w, dil_h, dil_w, groups;
} ag_conv_transpose2d_opts;
AG_API ag_tensor *ag_conv_transpose2d(ag_tensor *x, ag_tensor *W, ag_tensor *b, const ag_conv_transpose2d_opts *opts);
AG_API ag_tensor *ag_conv_transpose1d(ag_tensor *x, ag_tensor *W, ag_tensor *b, int stride, int padding, int output_padding, int dilation, int groups);
/* group norm over x [N, C, ...] in `groups` groups of channels (biased variance), weight and bias [C] or NULL;
   instance norm: a group per channel (no running statistics) */
AG_API ag_tensor *ag_group_norm(ag_tensor *x, int groups, ag_tensor *weight, ag_tensor *bias, double eps);
AG_API ag_tensor *ag_instance_norm(ag_tensor *x, ag_tensor *weight, ag_tensor *bias, double eps);
/* softmax(q k^T scale + mask) v: q [..., L, E], k [..., S, E], v [..., S, Ev]; zero opts: no mask,
   scale 1/sqrt(E), no dropout. attn_mask broadcasts to [..., L, S]: added (float mask), or with
   mask_keeps nonzero = attend and zero = -inf (PyTorch's boolean mask). */
typedef struct {
    ag_tensor *attn_mask;
    bool mask_keeps;
    bool is_causal;       /* -inf above the diagonal */
    double dropout_p;     /* on the attention weights (the context RNG), as in training */
    double scale;         /* 0: 1 / sqrt(E) */
} ag_sdpa_opts;
AG_API ag_tensor *ag_scaled_dot_product_attention(ag_tensor *q, ag_tensor *k, ag_tensor *v, const ag_sdpa_opts *opts);
/* resampling [N, C, H, W] to [N, C, out_h, out_w] (or [N, C, L] to [N, C, out_w]), F.interpolate */
typedef enum { AG_INTERP_NEAREST = 0, AG_INTERP_BILINEAR = 1 } ag_interp_mode;
AG_API ag_tensor *ag_interpolate(ag_tensor *x, int64_t out_h, int64_t out_w, ag_interp_mode mode, bool align_corners);
AG_API int ag_lstm_cell(ag_tensor *x, ag_tensor *h, ag_tensor *c, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor *b_ih,
                        ag_tensor *b_hh, ag_tensor **h_out, ag_tensor **c_out);
AG_API ag_tensor *ag_gru_cell(ag_tensor *x, ag_tensor *h, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor *b_ih, ag_tensor *b_hh);
#endif /* AG_NO_LAYERS */

#ifdef __cplusplus
}
#endif
#endif /* AUTOGRAD_H */

/* ========================================================================== */
/*                              IMPLEMENTATION                                */
/* ========================================================================== */
#ifdef AUTOGRAD_IMPLEMENTATION
#ifndef AUTOGRAD_IMPLEMENTATION_DONE
#define AUTOGRAD_IMPLEMENTATION_DONE

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* x87 arithmetic (32-bit x86 without -mfpmath=sse) keeps intermediates in 80 bits and rounds them
   when a register spills, so the same formula can round differently on two paths: the
   bit-identical results (replay, checkpoints, fused backward kernels) do not hold. */
#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0 && __FLT_EVAL_METHOD__ != -1 && !defined(AG_ALLOW_EXCESS_PRECISION)
#error "autograd.h: floating point is evaluated in extended precision here (FLT_EVAL_METHOD != 0: x87 on 32-bit x86), which breaks its bit-identical results. Build with -msse2 -mfpmath=sse, or define AG_ALLOW_EXCESS_PRECISION to build anyway."
#endif
/* the kernels' rounding does not depend on the compiler's choice to fuse a*b + c (see AG__EXACT) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(_MSC_VER)
#pragma fp_contract(off)   /* MSVC before VS 2022 contracts under /fp:precise with /arch:AVX2 */
#endif
/* -ffast-math / -Ofast (users build games with them) would fold the NaN checks away, let the
   vector math lose its error-free steps and make kernel sets round differently. gcc can
   switch it off for the implementation alone (the code that includes it keeps its flags), and
   the whole test suite passes with an -Ofast implementation (make check). clang cannot do so
   completely (it keeps approximate square roots and reciprocals): there it is an error unless
   AG_ALLOW_FAST_MATH says to build anyway, with precise mode asked for where clang honours it. */
#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#define AG__FAST_MATH_OFF 1
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize ("no-fast-math")
#elif !defined(AG_ALLOW_FAST_MATH)
#error "autograd.h: the implementation is compiled with -ffast-math (or -Ofast, -ffinite-math-only), under which this compiler breaks its NaN/Inf checks, the vector math's accuracy and the bit-identical results across kernel sets. Compile the file that defines AUTOGRAD_IMPLEMENTATION without it (the rest of the program can keep it), or define AG_ALLOW_FAST_MATH to build anyway."
#else
#pragma float_control(precise, on, push)
#endif
#endif

#ifndef AG_ASSERT
#ifdef AG_FREESTANDING
#define AG_ASSERT(x) ((void)sizeof(x))   /* assert would link the C library's printing and abort */
#else
#include <assert.h>
#define AG_ASSERT(x) assert(x)
#endif
#endif
/* the first size of the graph traversal stack (entries; it doubles as needed) and of the error message */
#ifndef AG_STACK_INIT
#ifdef AG_FREESTANDING
#define AG_STACK_INIT 32
#else
#define AG_STACK_INIT 1024
#endif
#endif
#ifndef AG_ERROR_BYTES
#ifdef AG_FREESTANDING
#define AG_ERROR_BYTES 160
#else
#define AG_ERROR_BYTES 512
#endif
#endif
#define AG__ALLOC_ALIGN 8   /* what ag_desc.allocator must give: int64_t, double and pointers live in its blocks */

/* AG_NO_F64: every entry taking a dtype refuses F64 (ag__check_dtype), so no F64 tensor exists and the
   F64 kernels are not compiled. AG__F64(x) is x, or nothing; AG__PICK(dtype, f32, f64) is the kernel for
   dtype. Index tensors (argmax, argsort, cross-entropy's targets) are AG__IDX, I64 in every build. */
#ifdef AG_NO_F64
#define AG__F64(...)
#define AG__PICK(dtype, f32, f64) ((void)(dtype), (f32))
#else
#define AG__F64(...) __VA_ARGS__
#define AG__PICK(dtype, f32, f64) ((dtype) == AG_F32 ? (f32) : (f64))
#endif
#define AG__IDX AG_I64   /* index tensors, as PyTorch's */
typedef int64_t ag__idx;
#define AG__HALF(dtype) ((dtype) == AG_F16 || (dtype) == AG_BF16)   /* a 16-bit storage dtype (>>half) */
#define AG__INT(dtype) ((dtype) >= AG_I32)                          /* I32, I64 or BOOL (>>int) */
#define AG__FLOAT(dtype) ((dtype) <= AG_BF16)                       /* a dtype that can require grad */

/* Under AddressSanitizer the free part of the arena is poisoned, so a read past
   a tensor or of a tensor after ag_ctx_reset is reported like a heap error. */
#if defined(__SANITIZE_ADDRESS__)
#define AG__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AG__ASAN 1
#endif
#endif
#ifdef AG__ASAN
#ifdef __cplusplus
extern "C" {
#endif
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
int __asan_address_is_poisoned(void const volatile *addr);
#ifdef __cplusplus
}
#endif
#define AG__POISON(p, n) __asan_poison_memory_region((p), (n))
#define AG__UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#define AG__POISONED(p) __asan_address_is_poisoned(p)
#else
#define AG__POISONED(p) 0
#define AG__POISON(p, n) ((void)(p), (void)(n))
#define AG__UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* ==== >>dispatch: which kernel set a context runs ====
   x86-64: AVX2+FMA and AVX-512 kernels are compiled with per-function target
   attributes, so a plain `cc -O2` build has them; each context picks the best
   the CPU supports (cpuid, and the OS's register state via xgetbv, through
   __builtin_cpu_supports; with MSVC and clang-cl, __cpuid and _xgetbv). MSVC needs
   no target attributes: it compiles intrinsics of any ISA in any function (not built
   by make check: no MSVC here). aarch64: NEON always. Elsewhere: scalar.
   clang-cl before clang 19 declares no AVX intrinsics unless the whole build targets them
   (its immintrin.h skips them under _MSC_VER): there, the x86 kernels need /arch:AVX512. */
#if defined(__clang__) && defined(_MSC_VER)   /* clang-cl */
#if __clang_major__ >= 19 || (defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__))
#define AG__X86_CC 1
#endif
#elif defined(__GNUC__) || defined(__clang__) || (defined(_MSC_VER) && _MSC_VER >= 1911)   /* MSVC: VS 2017 15.3 has AVX-512 */
#define AG__X86_CC 1
#endif
#if !defined(AG_NO_SIMD) && !defined(AG_NO_AVX2) && (defined(__x86_64__) || defined(_M_X64)) && defined(AG__X86_CC)
#define AG__X86 1
#include <immintrin.h>
#if defined(__GNUC__) || defined(__clang__)
#define AG__TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define AG__TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma,f16c")))
#else
#define AG__TARGET_AVX2
#define AG__TARGET_AVX512
#endif
#ifdef _MSC_VER
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif
#if !defined(AG_NO_SIMD) && !defined(AG_NO_NEON) && defined(__aarch64__)
#define AG__NEON 1
#include <arm_neon.h>
#endif
#if !defined(AG_NO_SIMD) && defined(__wasm_simd128__)
#define AG__WASM 1
#include <wasm_simd128.h>
#endif
/* Emscripten defines __unix__, but its pthreads exist only in a -pthread build */
#if !defined(AG_NO_THREADS) && (((defined(__unix__) || defined(__APPLE__)) && !defined(__EMSCRIPTEN__)) || defined(__EMSCRIPTEN_PTHREADS__))
#define AG__THREADS 1
#include <pthread.h>
#elif !defined(AG_NO_THREADS) && defined(_WIN32)
#define AG__THREADS 1
#define AG__WIN32 1   /* Win32 threads (Vista or later: SRW locks, condition variables) */
#if !defined(WIN32_LEAN_AND_MEAN)
#define WIN32_LEAN_AND_MEAN
#define AG__UNDEF_LEAN 1
#endif
#if !defined(NOMINMAX)
#define NOMINMAX
#define AG__UNDEF_NOMINMAX 1
#endif
#include <windows.h>
#ifdef AG__UNDEF_LEAN
#undef WIN32_LEAN_AND_MEAN
#undef AG__UNDEF_LEAN
#endif
#ifdef AG__UNDEF_NOMINMAX
#undef NOMINMAX
#undef AG__UNDEF_NOMINMAX
#endif
#endif
enum { AG__ISA_SCALAR, AG__ISA_AVX2, AG__ISA_AVX512, AG__ISA_NEON, AG__ISA_SIMD128, AG__ISA_COUNT };
static const char *const ag__isa_names[AG__ISA_COUNT] = { "scalar", "avx2", "avx512", "neon", "simd128" };

static int ag__isa_best(void) {
#if defined(AG__X86) && defined(_MSC_VER)
    /* clang-cl has __builtin_cpu_supports only with compiler-rt linked in: cpuid by hand. The CPU
       has the instructions (leaf 1: FMA, OSXSAVE, AVX; leaf 7: AVX2, AVX-512F, DQ), and the OS
       saves their registers (XCR0: SSE and YMM state; for AVX-512 the opmask and ZMM state too) */
    int r[4];
    bool fma, avx2, avx512;
    unsigned long long xcr0;
    __cpuid(r, 0);
    if (r[0] < 7) return AG__ISA_SCALAR;
    __cpuid(r, 1);
    if (!((r[2] >> 27) & 1) || !((r[2] >> 28) & 1)) return AG__ISA_SCALAR;   /* OSXSAVE, AVX */
    fma = ((r[2] >> 12) & 1) && ((r[2] >> 29) & 1);   /* FMA and F16C (16-bit float conversions) */
    xcr0 = _xgetbv(0);
    __cpuidex(r, 7, 0);
    avx2 = fma && ((r[1] >> 5) & 1) && (xcr0 & 0x6) == 0x6;
    avx512 = avx2 && ((r[1] >> 16) & 1) && ((r[1] >> 17) & 1) && (xcr0 & 0xe6) == 0xe6;
    if (avx512) return AG__ISA_AVX512;
    if (avx2) return AG__ISA_AVX2;
#elif defined(AG__X86)
    unsigned a, b, c, d;
    __builtin_cpu_init();
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 29) & 1)) return AG__ISA_SCALAR;   /* F16C: the 16-bit float conversions */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return AG__ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return AG__ISA_AVX2;
#elif defined(AG__NEON)
    return AG__ISA_NEON;
#elif defined(AG__WASM)
    return AG__ISA_SIMD128;   /* chosen when compiling (-msimd128): a wasm engine cannot run what it does not validate */
#endif
    return AG__ISA_SCALAR;
}
/* the named kernel set if this CPU can run it (avx2 on an avx512 CPU too), else the best */
static int ag__isa_choose(const char *want) {
    int best = ag__isa_best(), i;
#ifndef AG_NO_GETENV
    if (!want) want = getenv("AG_SIMD");
#endif
    if (!want) return best;
    for (i = 0; i < AG__ISA_COUNT; i++) if (!strcmp(want, ag__isa_names[i])) break;
    if (i == AG__ISA_SCALAR || i == best || (i == AG__ISA_AVX2 && best == AG__ISA_AVX512)) return i;
    return best;
}

#define AG__DATA_ALIGN 64          /* tensor data: one cache line, any SIMD width */
/* NaN by its bits: holds under any floating-point flags (x != x is folded away by -ffinite-math-only) */
static bool ag__isnan(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
}
static bool ag__isnan_f32(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7fffffffu) > 0x7f800000u;
}
#define AG__MAX_NUMEL ((int64_t)1 << 48)
#define AG__CAT(a, b) a##b
#define AG__M(f, M) AG__CAT(f, M)  /* libm name for a dtype: AG__M(exp, f) = expf, AG__M(exp, ) = exp */

/* tensor flags */
enum {
    AG__REQ_GRAD = 1,     /* requires grad */
    AG__PERSISTENT = 2,   /* heap-owned, survives ag_ctx_reset */
    AG__RETAIN = 4,       /* non-leaf keeps its gradient */
    AG__RELEASED = 8,     /* graph node consumed by a backward without retain_graph */
    AG__GRAD_OWNED = 16,  /* t->grad is a buffer we may accumulate into in place */
    AG__GRAD_ARENA = 32,  /* t->grad lives in the arena: valid while grad_gen == ctx->gen */
    AG__SINK = 64,        /* ag_grad_of, checkpoint: the gradient goes to the caller's sink, not to .grad */
    AG__VIEW = 128,       /* shares another tensor's storage */
    AG__REBASED = 256,    /* became the node of an in-place op; in[0] is its former self */
    AG__CAPTURED = 512    /* the result of a step some capture replays */
};

/* A tensor's first word: who owns it, and for an arena tensor the generation (ag_ctx_reset
   count) it belongs to, so that one kept across a reset is caught (ag__arg) */
#define AG__TAG_PERSISTENT 0xA5C3E1F0u
#define AG__TAG_ARENA 0xA6000000u
#define AG__TAG_MAGIC 0xFF000000u
#define AG__TAG_GEN 0x00FFFFFFu
/* Each reset starts every arena block this many bytes further on (four places in turn, a
   multiple of the largest alignment so that the layout and its padding stay the same): a
   header kept from before a reset then lies up to 192 bytes off today's headers, which are
   at least 224 bytes apart, in someone else's bytes, instead of exactly on a new tensor that
   would pass for it. */
#define AG__ARENA_SHIFT(gen) ((size_t)((gen) & 3) * AG__DATA_ALIGN)

typedef struct ag__opdef ag__opdef;

struct ag_tensor {
    uint32_t tag;             /* AG__TAG_PERSISTENT, or AG__TAG_ARENA | the context's generation when made (ag__arg) */
    ag_ctx *ctx;
    char *data;               /* element [0, ..., 0] */
    int64_t *shape, *stride;  /* ndim entries each; strides in elements */
    int64_t numel;
    ag_tensor *grad;          /* leaf: its gradient; node during backward: the gradient being summed */
    const ag__opdef *op;      /* the op that made it; NULL for a leaf */
    ag_tensor **in;           /* the op's inputs */
    double fp[2];             /* op parameters */
    int64_t ip[3];
    void *extra;              /* op data (index arrays, permutations); persistent leaf: its grad buffer */
    struct ag__hook *hooks;   /* gradient hooks (ag_register_hook) */
    ag_tensor *tangent;       /* forward mode: d this along the direction given by ag_make_dual; NULL: zero */
    const char *name;         /* ag_set_name's label (a copy owned like the tensor), or NULL */
    const struct ag__vbatch *vb;  /* inside ag_vmap: the batch levels of this example-0 view (>>vmap); NULL: unbatched */
    uint32_t *version;        /* the storage's version counter, shared with every view of it; in-place ops bump it */
    uint32_t own_version;     /* the counter itself, for a tensor that owns its storage */
    uint32_t saved_version;   /* node: the versions of the inputs its backward reads, summed when it was recorded */
    uint32_t out_version;     /* node: its own version when recorded (for rules that read the output) */
    uint32_t seq;             /* creation order; an in-place op gives the tensor a new one */
    uint32_t grad_gen, mark;
    uint32_t use_gen;         /* persistent: the last reset count in which an op took it as an input (ag_free_persistent) */
    uint32_t users;           /* persistent: optimizers that hold it */
    int32_t pending;          /* backward: consumers not yet done; graph_dot: node id */
    uint16_t flags;
    uint8_t ndim, dtype;
    int32_t nin;              /* inputs of the op (before recording: room for them) */
};

struct ag__hook {
    ag_tensor *(*fn)(ag_tensor *grad, void *user);
    void *user;
    struct ag__hook *next;
    ag_tensor *partial;   /* a hooked leaf's gradient while backward sums it (first hook only) */
};

typedef int (*ag__backward_fn)(ag_tensor *y, ag_tensor *g, ag_tensor **gin);
/* forward mode: *out = the tangent of y from the inputs' tangents t[i] (NULL: zero); 0 ok */
typedef int (*ag__jvp_fn)(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out);
/* replay: recomputes y from its inputs (y->in) and parameters; false if out of memory */
typedef bool (*ag__rerun_fn_t)(int op, ag_tensor *y);
struct ag__opdef { const char *name; ag__backward_fn backward; ag__jvp_fn jvp; ag__rerun_fn_t rerun; uint8_t saves, batch; };
/* >>vmap: a batched tensor is example 0 (its shape, strides and data are one example's) plus its
   levels: for each running ag_vmap that maps it (by id, outermost first), the batch size and the
   stride in elements from one example to the next. Views share their base's levels. */
#define AG__VMAP_MAX 4
typedef struct ag__vbatch { int n; uint32_t id[AG__VMAP_MAX]; int64_t size[AG__VMAP_MAX], stride[AG__VMAP_MAX]; } ag__vbatch;

typedef struct ag__block {
    struct ag__block *next;
    char *base;               /* aligned start of the usable bytes */
    size_t size, used;
    size_t start;             /* where this generation's allocations began (AG__ARENA_SHIFT): not counted as used */
} ag__block;

typedef struct ag__plink { struct ag__plink *next, *prev; size_t bytes; } ag__plink;   /* persistent allocations, a list */
typedef struct ag__pool ag__pool;   /* worker threads (ag_desc.threads) */

struct ag_ctx {
    ag_allocator alloc;
    size_t block_bytes, limit;
    ag__block *first, *cur;
    size_t used_before_cur;   /* arena bytes used in the blocks before cur */
    size_t capacity, peak, step_peak, persistent_bytes;
    uint64_t heap_allocs, heap_frees, nodes;
    uint32_t gen, visit, seq;
    uint64_t rng[4];
    ag__plink *persist;
    uint64_t persistent_tensors;   /* live ones (ag_stats) */
    ag_tensor **stack;        /* graph traversal scratch, heap, reused */
    size_t stack_cap;
    size_t stack_base;        /* where the innermost running traversal's segment starts (backward can nest) */
    void *ckpt_buf;           /* a checkpoint's output while its forward's intermediates are given back (heap, reused) */
    size_t ckpt_cap;
    bool anomaly;             /* check every gradient backward computes for NaN and Inf */
    int jvp_off;              /* > 0: ops do not propagate tangents (inside a JVP rule or a custom forward) */
    struct ag_capture *capture; /* the step being recorded for ag_replay, or NULL */
    int tape_pause;           /* > 0: work that ag_replay redoes as one step of its own is running */
    size_t capture_scratch;   /* the most scratch one kernel of the running capture took (a replay needs it again) */
    struct ag_capture *captures;  /* every step captured with this context (freed with it) */
    bool grad_enabled;
    int isa;                  /* AG__ISA_*: the kernels this context runs */
    int threads;
    ag__pool *pool;
    const struct ag__grad_sink *sink;   /* where the running backward hands gradients (NULL: .grad) */
    int backward_depth;       /* backward runs inside backward: a checkpoint's recomputation */
    int vmap_depth;           /* ag_vmap calls running, their level ids in vmap_active (>>vmap) */
    uint32_t vmap_active[AG__VMAP_MAX], vmap_ids;
    ag_parallel_for_fn parallel_for;
    void *parallel_user;
    uint64_t failures;        /* errors reported, kept or not (a capture checks that its step had none) */
    uint64_t scaler_ids;      /* grad scalers made (each gets the next as its id) */
    void (*write)(ag_file *f, const char *s, size_t n);   /* ag_desc.write */
    char err[AG_ERROR_BYTES];
};

/* ==== >>errors ==== */
#ifdef AG_NO_STDIO
/* The formatter of every message and of ag_print / ag_graph_dot when there is no C library printf:
   vsnprintf's conversions the library uses: %d %i %u %x %c %s %p %% (with l, ll, z), %e %f %g; the
   flags - 0 + and space; a width and a precision (or *). A double comes out as printf prints it
   when it needs at most 15 significant digits from a scaling by 10^-22 .. 10^22 (tests/test_format.c);
   beyond, the last digit may differ, and %f gives the digits past the 17th as zeros. */
typedef struct { char *buf; size_t cap, len; } ag__fmtbuf;
static void ag__fmt_put(ag__fmtbuf *b, char c) { if (b->len + 1 < b->cap) b->buf[b->len] = c; b->len++; }
static void ag__fmt_field(ag__fmtbuf *b, const char *sign, const char *s, int n, int width, bool left, bool zero) {
    int pad = width - (int)strlen(sign) - n;
    for (; !left && !zero && pad > 0; pad--) ag__fmt_put(b, ' ');
    while (*sign) ag__fmt_put(b, *sign++);
    for (; !left && zero && pad > 0; pad--) ag__fmt_put(b, '0');
    while (n-- > 0) ag__fmt_put(b, *s++);
    for (; left && pad > 0; pad--) ag__fmt_put(b, ' ');
}
/* v * 10^s; *below is the sign of (the exact product or quotient) - (the result) when one rounding
   made it (|s| <= 22: 10^s is exact, and Dekker's product splits q * 10^s exactly), else 0 */
static double ag__fmt_scale10(double v, int s, int *below) {
    double p = 1, x, hi, lo, t, ah, al, bh, bl;
    int n;
    *below = 0;
    if (s > 22 || s < -22) {
        for (; s > 22; s -= 22) v *= 1e22;
        for (; s < -22; s += 22) v /= 1e22;
        for (n = s < 0 ? -s : s; n > 0; n--) p *= 10;
        return s < 0 ? v / p : v * p;
    }
    for (n = s < 0 ? -s : s; n > 0; n--) p *= 10;   /* exact up to 10^22 */
    x = s < 0 ? v / p : v * p;
    hi = s < 0 ? x * p : x;                        /* hi + lo = x * p (division) or v * p (product), exactly */
    t = 134217729.0 * (s < 0 ? x : v); ah = t - (t - (s < 0 ? x : v)); al = (s < 0 ? x : v) - ah;
    t = 134217729.0 * p; bh = t - (t - p); bl = p - bh;
    lo = ((ah * bh - (s < 0 ? hi : x)) + ah * bl + al * bh) + al * bl;
    if (s >= 0) *below = lo > 0 ? 1 : lo < 0 ? -1 : 0;   /* v p = x + lo */
    else { t = v - hi; *below = t > lo ? 1 : t < lo ? -1 : 0; }   /* v - x p = (v - hi) - lo */
    return x;
}
/* the p (1..17) significant decimal digits of v (finite, > 0), rounded half to even, into d;
   returns the power of ten of the first */
static int ag__fmt_digits(double v, int p, char *d) {
    uint64_t bits, m, lim = 1;
    int e2, e, i, below;
    double x, r;
    memcpy(&bits, &v, sizeof bits);
    e2 = (int)((bits >> 52) & 0x7ff) - 1023;
    e = e2 >= 0 ? e2 * 1233 / 4096 : -((-e2 * 1233 + 4095) / 4096);   /* about e2 log10(2) */
    for (i = 0; i < p; i++) lim *= 10;
    for (i = 0; i < 40; i++) {   /* the estimate is near (subnormals: up to 16 off); each step mends one */
        x = ag__fmt_scale10(v, p - 1 - e, &below);
        if (x >= (double)lim) e++;
        else if (x < (double)(lim / 10)) e--;
        else break;
    }
    x = ag__fmt_scale10(v, p - 1 - e, &below);
    m = (uint64_t)x;
    r = x - (double)m;
    if (r > 0.5 || (r == 0.5 && (below > 0 || (below == 0 && (m & 1))))) m++;
    if (m >= lim) { m /= 10; e++; }
    for (i = p - 1; i >= 0; i--) { d[i] = (char)('0' + m % 10); m /= 10; }
    return e;
}
/* writes the digits d[0..nd) (the first is 10^e; missing ones are 0) as fixed point with prec decimals */
static int ag__fmt_fixed(char *out, const char *d, int nd, int e, int prec) {
    int n = 0, k;
    if (e < 0) out[n++] = '0';
    for (k = e; k >= 0; k--) out[n++] = e - k < nd ? d[e - k] : '0';
    if (prec > 0) out[n++] = '.';
    for (k = -1; k >= -prec; k--) out[n++] = e - k >= 0 && e - k < nd ? d[e - k] : '0';
    return n;
}
static int ag__fmt_exp(char *out, const char *d, int nd, int e, int prec) {
    int n = 0, k, a = e < 0 ? -e : e;
    out[n++] = nd > 0 ? d[0] : '0';
    if (prec > 0) out[n++] = '.';
    for (k = 1; k <= prec; k++) out[n++] = k < nd ? d[k] : '0';
    out[n++] = 'e';
    out[n++] = e < 0 ? '-' : '+';
    if (a >= 100) out[n++] = (char)('0' + a / 100);
    out[n++] = (char)('0' + a / 10 % 10);
    out[n++] = (char)('0' + a % 10);
    return n;
}
static void ag__fmt_double(ag__fmtbuf *b, double v, char conv, int prec, int width, bool left, bool zero, const char *plus) {
    char d[20], out[420];
    uint64_t bits;
    int n = 0, nd = 0, e = 0;
    bool neg;
    memcpy(&bits, &v, sizeof bits);
    neg = (bits >> 63) != 0;
    bits &= ~((uint64_t)1 << 63);
    memcpy(&v, &bits, sizeof v);   /* |v| */
    if (bits >= 0x7ff0000000000000ull) {
        ag__fmt_field(b, neg ? "-" : plus, bits > 0x7ff0000000000000ull ? "nan" : "inf", 3, width, left, false);
        return;
    }
    if (prec < 0) prec = 6;
    if (prec > 60) prec = 60;
    if (conv == 'g') {
        int p = prec == 0 ? 1 : prec > 17 ? 17 : prec;
        if (bits) { nd = p; e = ag__fmt_digits(v, p, d); }
        if (e < -4 || e >= p) n = ag__fmt_exp(out, d, nd, e, p - 1);
        else n = ag__fmt_fixed(out, d, nd, e, p - 1 - e);
        {   /* no trailing zeros after the point, nor a bare point */
            int x = 0, k;
            while (x < n && out[x] != 'e') x++;
            for (k = 0; k < x && out[k] != '.'; k++) {}
            if (k < x) {
                int z = x;
                while (out[z - 1] == '0') z--;
                if (out[z - 1] == '.') z--;
                memmove(out + z, out + x, (size_t)(n - x));
                n -= x - z;
            }
        }
    } else if (conv == 'e') {
        if (bits) { nd = prec + 1 > 17 ? 17 : prec + 1; e = ag__fmt_digits(v, nd, d); }
        n = ag__fmt_exp(out, d, nd, e, prec);
    } else {   /* 'f': as many digits as reach the prec-th decimal (17 at most, the rest 0) */
        if (bits) {
            e = ag__fmt_digits(v, 17, d);
            nd = e + 1 + prec;
            if (nd > 17) nd = 17;
            if (nd > 0) e = ag__fmt_digits(v, nd, d);
            else {   /* below half a unit of the last decimal: 0, or 1 in that place */
                int below = 0;
                double x = nd == 0 ? ag__fmt_scale10(v, prec, &below) : 0;
                bool up = x > 0.5 || (x == 0.5 && below > 0);
                if (up) { d[0] = '1'; e = -prec; }
                nd = up;
            }
        }
        n = ag__fmt_fixed(out, d, nd, e, prec);
    }
    ag__fmt_field(b, neg ? "-" : plus, out, n, width, left, zero);
}
static int ag__vformat(char *buf, size_t cap, const char *fmt, va_list ap) {
    ag__fmtbuf b;
    b.buf = buf; b.cap = cap; b.len = 0;
    for (; *fmt; fmt++) {
        bool left = false, zero = false;
        const char *plus = "";
        int width = 0, prec = -1, lng = 0;
        char num[24], conv;
        if (*fmt != '%') { ag__fmt_put(&b, *fmt); continue; }
        for (fmt++;; fmt++) {
            if (*fmt == '-') left = true;
            else if (*fmt == '0') zero = true;
            else if (*fmt == '+') plus = "+";
            else if (*fmt == ' ') { if (!*plus || *plus == ' ') plus = " "; }
            else break;
        }
        if (*fmt == '*') { width = va_arg(ap, int); fmt++; if (width < 0) { left = true; width = -width; } }
        else while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++; prec = 0;
            if (*fmt == '*') { prec = va_arg(ap, int); fmt++; }
            else while (*fmt >= '0' && *fmt <= '9') prec = prec * 10 + (*fmt++ - '0');
        }
        for (;; fmt++) {
            if (*fmt == 'l') lng++;
            else if (*fmt == 'z') lng = 3;
            else if (*fmt != 'h') break;
        }
        conv = *fmt;
        if (left) zero = false;
        if (conv == 'd' || conv == 'i' || conv == 'u' || conv == 'x' || conv == 'X' || conv == 'p') {
            unsigned long long u;
            int n = (int)sizeof num, base = conv == 'x' || conv == 'X' || conv == 'p' ? 16 : 10;
            const char *sign = "";
            if (conv == 'p') u = (unsigned long long)(uintptr_t)va_arg(ap, void *);
            else if (conv == 'd' || conv == 'i') {
                long long v = lng == 0 ? va_arg(ap, int) : lng == 1 ? va_arg(ap, long) : lng == 3 ? (long long)va_arg(ap, size_t) : va_arg(ap, long long);
                u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
                sign = v < 0 ? "-" : plus;
            } else u = lng == 0 ? va_arg(ap, unsigned) : lng == 1 ? va_arg(ap, unsigned long) : lng == 3 ? va_arg(ap, size_t) : va_arg(ap, unsigned long long);
            do { num[--n] = (conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef")[u % (unsigned)base]; u /= (unsigned)base; } while (u);
            if (conv == 'p') { num[--n] = 'x'; num[--n] = '0'; }
            ag__fmt_field(&b, sign, num + n, (int)sizeof num - n, width, left, zero);
        } else if (conv == 'e' || conv == 'f' || conv == 'g') {
            ag__fmt_double(&b, va_arg(ap, double), conv, prec, width, left, zero, plus);
        } else if (conv == 's' || conv == 'c') {
            const char *s;
            int n;
            if (conv == 'c') { num[0] = (char)va_arg(ap, int); s = num; n = 1; }
            else {
                s = va_arg(ap, const char *);
                if (!s) s = "(null)";
                for (n = 0; s[n] && (prec < 0 || n < prec); n++) {}
            }
            ag__fmt_field(&b, "", s, n, width, left, false);
        } else if (conv == '%') ag__fmt_put(&b, '%');
        else if (!conv) break;
    }
    if (cap) buf[b.len < cap ? b.len : cap - 1] = 0;
    return (int)b.len;
}
#else
#define ag__vformat vsnprintf
#endif
/* snprintf, through the formatter above under AG_NO_STDIO */
static int ag__format(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = ag__vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

static void ag__fail(ag_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    if (!ctx) return;
    ctx->failures++;
    if (ctx->err[0]) return;   /* the first error stays */
    va_start(ap, fmt);
    ag__vformat(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    if (!ctx->err[0]) { ctx->err[0] = '?'; ctx->err[1] = 0; }
}

/* Is t (not NULL) a tensor from before the last ag_ctx_reset of its context, whose memory the
   arena hands out again? Its first word tells: a kept header still holds its old generation
   (*ctx is then its context); a header that now lies in another tensor's bytes (the arena
   starts each generation a little further on, AG__ARENA_SHIFT) holds no tag at all (*ctx NULL:
   no context to report to). Under ASan the freed arena is poisoned: its first 16 bytes (tag
   and context) are read with the poison lifted for the moment (allocations are 16-aligned,
   so they are all free when the first is). */
#if defined(__GNUC__) || defined(__clang__)
#define AG__NOINLINE __attribute__((noinline))   /* argument checks every public function runs: one copy, not 100 */
#elif defined(_MSC_VER)
#define AG__NOINLINE __declspec(noinline)
#else
#define AG__NOINLINE
#endif
static bool ag__stale(const ag_tensor *t, ag_ctx **ctx) {
    uint32_t tag;
    ag_ctx *c;
    bool poisoned = AG__POISONED(t) != 0;
    if (poisoned) AG__UNPOISON(t, 16);
    tag = t->tag; c = t->ctx;
    if (poisoned) AG__POISON(t, 16);
    *ctx = NULL;
    if (tag == AG__TAG_PERSISTENT && !poisoned) return false;
    if ((tag & AG__TAG_MAGIC) != AG__TAG_ARENA) return true;
    *ctx = c;
    return poisoned || (tag & AG__TAG_GEN) != (c->gen & AG__TAG_GEN);
}
static void ag__stale_fail(ag_ctx *ctx, const char *fn) {
    if (fn[0] == 'a' && fn[1] == 'g' && fn[2] == '_') fn += 3;   /* __func__ of a public function */
    ag__fail(ctx, "%s: a tensor from before the last ag_ctx_reset was passed (the arena has reused its memory): "
             "make it again after the reset, or make it with ag_persistent / ag_param to keep it", fn);
}
enum { AG__HALF_F32, AG__HALF_KEEP, AG__HALF_NO };   /* ag__half_policy's answers (>>optable) */
static int ag__half_policy(const char *fn, int dtype);
static void ag__half_refuse(const ag_tensor *t, const char *fn);
/* t as an argument of the public function fn: t, or NULL (like a NULL argument) when it is stale,
   reported on its context or else on fallback (another argument's, may be NULL); a 16-bit t as
   ag__half_policy says */
static bool ag__vmap_refused(const ag_tensor *t, const char *fn);
AG__NOINLINE static ag_tensor *ag__arg_of(const char *fn, const ag_tensor *t, ag_ctx *fallback) {
    ag_ctx *c;
    if (t && !ag__stale(t, &c)) {
        if (t->vb && ag__vmap_refused(t, fn)) return NULL;
        if (!AG__HALF(t->dtype) && !AG__INT(t->dtype)) return (ag_tensor *)t;
        switch (ag__half_policy(fn, t->dtype)) {
        case AG__HALF_KEEP: return (ag_tensor *)t;
        case AG__HALF_NO: ag__half_refuse(t, fn); return NULL;
        default: return ag_to((ag_tensor *)t, AG_F32);
        }
    }
    if (!t) return NULL;
    ag__stale_fail(c ? c : fallback, fn);
    return NULL;
}
#define ag__arg(t) ag__arg_of(__func__, (t), NULL)
#define ag__index_arg(t) ag__arg_of("index", (t), NULL)   /* an index tensor argument: taken as it is */
/* the same for the tensor arguments of a function that takes several (up to five; NULL
   addresses are unused slots): a stale one becomes NULL, reported on its own context or else
   on a live argument's */
AG__NOINLINE static void ag__args_of(const char *fn, ag_tensor **a, ag_tensor **b, ag_tensor **c, ag_tensor **d, ag_tensor **e) {
    ag_tensor **p[5];
    ag_ctx *live = NULL, *own;
    int i;
    p[0] = a; p[1] = b; p[2] = c; p[3] = d; p[4] = e;
    for (i = 0; i < 5; i++) if (p[i] && *p[i] && !ag__stale(*p[i], &own)) live = (*p[i])->ctx;
    for (i = 0; i < 5; i++) if (p[i] && *p[i]) *p[i] = ag__arg_of(fn, *p[i], live);
}
#define ag__args(a, b, c, d, e) ag__args_of(__func__, a, b, c, d, e)
/* an array argument: false when one of its n tensors (NULL entries allowed) is stale, reported
   on its context or else on ctx (may be NULL) */
static bool ag__live_list(const char *fn, ag_ctx *ctx, int n, ag_tensor *const *ts) {
    int i;
    for (i = 0; ts && i < n; i++) {
        ag_ctx *c;
        if (!ts[i]) continue;
        if (ag__stale(ts[i], &c)) { ag__stale_fail(c ? c : ctx, fn); return false; }
        if (ts[i]->vb && ag__vmap_refused(ts[i], fn)) return false;
        if ((AG__HALF(ts[i]->dtype) || AG__INT(ts[i]->dtype)) && ag__half_policy(fn, ts[i]->dtype) != AG__HALF_KEEP) {
            ag__half_refuse(ts[i], fn);
            return false;
        }
    }
    return true;
}

/* "[2, 3]" */
static const char *ag__shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t n = 0; int i;
    n += (size_t)ag__format(buf + n, size - n, "[");
    for (i = 0; i < ndim && n < size; i++)
        n += (size_t)ag__format(buf + n, size - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < size) ag__format(buf + n, size - n, "]");
    return buf;
}
/* "[2, 3]", or "'w1' [2, 3]" for a tensor named with ag_set_name: messages name the tensors */
static const char *ag__tensor_str(char *buf, size_t size, const ag_tensor *t) {
    size_t n = 0;
    if (t->name) {
        int k = ag__format(buf, size, "'%s' ", t->name);
        n = k > 0 && (size_t)k < size ? (size_t)k : 0;
    }
    ag__shape_str(buf + n, size - n, t->ndim, t->shape);
    return buf;
}
#define AG__SHAPE(buf, t) ag__tensor_str(buf, sizeof buf, (t))

/* ==== >>arena: the heap and the arena ==== */
#ifndef AG_NO_MALLOC
static void *ag__default_alloc(size_t n, void *user) { (void)user; return malloc(n); }
static void ag__default_free(void *p, void *user) { (void)user; free(p); }
#endif

static void *ag__heap_alloc(ag_ctx *ctx, size_t n) {
    void *p = ctx->alloc.alloc(n, ctx->alloc.user);
    if (p && ((uintptr_t)p & (AG__ALLOC_ALIGN - 1))) {   /* a misaligned block would fault later, far from here */
        ctx->alloc.free(p, ctx->alloc.user);
        ag__fail(ctx, "the allocator returned %p, which is not aligned to %d bytes (ag_desc.allocator must align its blocks so)",
                 p, AG__ALLOC_ALIGN);
        return NULL;
    }
    if (p) ctx->heap_allocs++;
    return p;
}
static void ag__heap_free(ag_ctx *ctx, void *p) {
    if (!p) return;
    ctx->alloc.free(p, ctx->alloc.user);
    ctx->heap_frees++;
}

static size_t ag__align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

/* arena bytes handed out since the last reset */
static size_t ag__arena_used(const ag_ctx *ctx) { return ctx->used_before_cur + (ctx->cur ? ctx->cur->used - ctx->cur->start : 0); }
static void ag__note_use(ag_ctx *ctx) {
    size_t used = ag__arena_used(ctx);
    if (used > ctx->peak) ctx->peak = used;
    if (used > ctx->step_peak) ctx->step_peak = used;
}

/* Bump allocation; blocks are kept and reused after a reset, so a repeated
   sequence of requests allocates from the heap only the first time. */
static void *ag__arena_alloc(ag_ctx *ctx, size_t n, size_t align) {
    for (;;) {
        ag__block *b = ctx->cur;
        if (b) {
            size_t off = ag__align_up(b->used, align);
            if (off <= b->size && n <= b->size - off) {
                b->used = off + n;
                AG__UNPOISON(b->base + off, n);
                ag__note_use(ctx);
                return b->base + off;
            }
            if (b->next) {            /* move on to the next (reused) block */
                ctx->used_before_cur += b->used - b->start;
                ctx->cur = b->next;
                ctx->cur->used = ctx->cur->start = AG__ARENA_SHIFT(ctx->gen);
                continue;
            }
        }
        {   /* a new block, linked after cur */
            size_t size = ctx->block_bytes, raw;
            ag__block *nb;
            if (n + align + AG__ARENA_SHIFT(3) > size) size = n + align + AG__ARENA_SHIFT(3);   /* it fits after any shift */
            if (ctx->limit && (ctx->capacity >= ctx->limit || size > ctx->limit - ctx->capacity)) {
                size_t left = ctx->limit > ctx->capacity ? ctx->limit - ctx->capacity : 0;
                if (left >= n + align && left >= 4096) size = left;
                else {
                    ag__fail(ctx, "arena: limit of %zu bytes reached (%zu in use, %zu more requested)",
                             ctx->limit, ag__arena_used(ctx), n);
                    return NULL;
                }
            }
            raw = sizeof(ag__block) + size + AG__DATA_ALIGN;
            nb = (ag__block *)ag__heap_alloc(ctx, raw);
            if (!nb) { ag__fail(ctx, "arena: out of memory allocating a block of %zu bytes", raw); return NULL; }
            nb->base = (char *)ag__align_up((size_t)(nb + 1), AG__DATA_ALIGN);
            nb->size = size;
            nb->used = nb->start = 0;
            AG__POISON(nb->base, size);
            ctx->capacity += size;
            if (b) {
                nb->next = b->next;
                b->next = nb;
                ctx->used_before_cur += b->used - b->start;
            } else {
                nb->next = ctx->first;
                ctx->first = nb;
            }
            ctx->cur = nb;
        }
    }
}

typedef struct { ag__block *cur; size_t used, before; } ag__mark;
static ag__mark ag__arena_mark(ag_ctx *ctx) {
    ag__mark m;
    m.cur = ctx->cur; m.used = ctx->cur ? ctx->cur->used : 0; m.before = ctx->used_before_cur;
    return m;
}
/* whether p was allocated in the arena after mark m */
static bool ag__since_mark(ag_ctx *ctx, ag__mark m, const void *p) {
    const char *c = (const char *)p;
    ag__block *b = m.cur ? m.cur : ctx->first;
    size_t off = m.cur ? m.used : (b ? b->start : 0);
    for (; b; b = b->next, off = 0)
        if (c >= b->base + off && c < b->base + b->size) return true;
    return false;
}
/* poisons block b from offset off on, and every block after it */
static void ag__arena_poison_from(ag__block *b, size_t off) {
    for (; b; b = b->next, off = 0) AG__POISON(b->base + off, b->size - off);
}
/* frees everything allocated since m (used for scratch that never escapes) */
static void ag__arena_release(ag_ctx *ctx, ag__mark m) {
    if (ctx->capture) {   /* a captured step keeps everything it made (ag_replay refers to it); a replay needs the scratch again */
        size_t used = ag__arena_used(ctx), at = m.before + (m.cur ? m.used - m.cur->start : 0);
        if (used > at && used - at > ctx->capture_scratch) ctx->capture_scratch = used - at;
        return;
    }
    if (m.cur) { ctx->cur = m.cur; ctx->cur->used = m.used; }
    else if (ctx->first) { ctx->cur = ctx->first; ctx->cur->used = ctx->cur->start; }
    ctx->used_before_cur = m.before;
    if (ctx->cur) ag__arena_poison_from(ctx->cur, ctx->cur->used);
}

/* ==== >>context ==== */
static uint64_t ag__splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

AG_API void ag_manual_seed(ag_ctx *ctx, uint64_t seed) {
    int i;
    if (!ctx) return;
    for (i = 0; i < 4; i++) ctx->rng[i] = ag__splitmix(&seed);
}

/* xoshiro256** */
static uint64_t ag__rng_next(ag_ctx *ctx) {
    uint64_t *s = ctx->rng, r = s[1] * 5, t = s[1] << 17;
    r = ((r << 7) | (r >> 57)) * 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = (s[3] << 45) | (s[3] >> 19);
    return r;
}
static double ag__rng_uniform(ag_ctx *ctx) { return (double)(ag__rng_next(ctx) >> 11) * (1.0 / 9007199254740992.0); }
static double ag__rng_normal(ag_ctx *ctx) {   /* Box-Muller */
    double u1 = 1.0 - ag__rng_uniform(ctx), u2 = ag__rng_uniform(ctx);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#ifdef AG__THREADS
static ag__pool *ag__pool_new(ag_ctx *ctx, int threads, int *running);
static void ag__pool_free(ag_ctx *ctx, ag__pool *p);
#endif

AG_API ag_ctx *ag_ctx_new(const ag_desc *desc) {
    ag_desc d;
    ag_ctx *ctx;
    if (desc) d = *desc; else memset(&d, 0, sizeof d);
    if (!d.allocator.alloc || !d.allocator.free) {
#ifdef AG_NO_MALLOC
        return NULL;   /* no default allocator to fall back on */
#else
        d.allocator.alloc = ag__default_alloc;
        d.allocator.free = ag__default_free;
#endif
    }
    ctx = (ag_ctx *)d.allocator.alloc(sizeof(ag_ctx), d.allocator.user);
    if (!ctx) return NULL;
    if ((uintptr_t)ctx & (AG__ALLOC_ALIGN - 1)) { d.allocator.free(ctx, d.allocator.user); return NULL; }   /* see ag__heap_alloc */
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc = d.allocator;
    ctx->heap_allocs = 1;
    ctx->block_bytes = d.arena_bytes ? d.arena_bytes : ((size_t)1 << 20);
    ctx->limit = d.arena_limit;
    if (ctx->limit && ctx->block_bytes > ctx->limit) ctx->block_bytes = ctx->limit;
    ctx->gen = 1;
    ctx->grad_enabled = true;
    ag_manual_seed(ctx, d.seed);
    ctx->isa = ag__isa_choose(d.simd);
    ctx->parallel_for = d.parallel_for;
    ctx->parallel_user = d.parallel_user;
    ctx->write = d.write;
    ctx->threads = d.parallel_for ? (d.threads > 1 ? d.threads : 2) : 1;
#ifdef AG__THREADS
    if (!d.parallel_for && d.threads > 1 && !(ctx->pool = ag__pool_new(ctx, d.threads, &ctx->threads))) {
        ag_ctx_free(ctx);   /* out of memory for the pool: as for the context itself */
        return NULL;
    }
#endif
    return ctx;
}

AG_API void ag_ctx_free(ag_ctx *ctx) {
    ag__block *b, *nb;
    ag__plink *p, *np;
    if (!ctx) return;
    for (b = ctx->first; b; b = nb) { nb = b->next; AG__UNPOISON(b->base, b->size); ctx->alloc.free(b, ctx->alloc.user); }
    for (p = ctx->persist; p; p = np) { np = p->next; ctx->alloc.free(p, ctx->alloc.user); }
    if (ctx->stack) ctx->alloc.free(ctx->stack, ctx->alloc.user);
    if (ctx->ckpt_buf) ctx->alloc.free(ctx->ckpt_buf, ctx->alloc.user);
    while (ctx->captures) ag_capture_free(ctx->captures);
#ifdef AG__THREADS
    ag__pool_free(ctx, ctx->pool);
#endif
    ctx->alloc.free(ctx, ctx->alloc.user);
}

AG_API void ag_ctx_reset(ag_ctx *ctx) {
    if (!ctx) return;
    ctx->gen++;               /* arena gradients of persistent tensors are now stale, and arena tensors too (ag__arg) */
    if (ctx->gen == 0) ctx->gen = 1;
    ctx->cur = ctx->first;
    if (ctx->cur) ctx->cur->used = ctx->cur->start = AG__ARENA_SHIFT(ctx->gen);
    ctx->used_before_cur = 0;
    ctx->nodes = 0;
    ctx->step_peak = 0;
    ag__arena_poison_from(ctx->first, 0);
}

AG_API const char *ag_error(const ag_ctx *ctx) { return ctx && ctx->err[0] ? ctx->err : NULL; }
AG_API void ag_clear_error(ag_ctx *ctx) { if (ctx) ctx->err[0] = 0; }
static bool ag__set_flag(bool *flag, bool on) { bool prev = *flag; *flag = on; return prev; }   /* returns the old value */
AG_API bool ag_set_grad_enabled(ag_ctx *ctx, bool on) { return ctx ? ag__set_flag(&ctx->grad_enabled, on) : false; }
AG_API bool ag_is_grad_enabled(const ag_ctx *ctx) { return ctx && ctx->grad_enabled; }
AG_API ag_stats ag_get_stats(const ag_ctx *ctx) {
    ag_stats s;
    memset(&s, 0, sizeof s);
    if (!ctx) return s;
    s.arena_used = ag__arena_used(ctx);
    s.arena_peak = ctx->peak;
    s.arena_step_peak = ctx->step_peak;
    s.arena_capacity = ctx->capacity;
    s.persistent_bytes = ctx->persistent_bytes;
    s.heap_allocs = ctx->heap_allocs;
    s.heap_frees = ctx->heap_frees;
    s.nodes = ctx->nodes;
    s.persistent_tensors = ctx->persistent_tensors;
    s.threads = ctx->threads;
    return s;
}
AG_API const char *ag_simd_name(const ag_ctx *ctx) { return ctx ? ag__isa_names[ctx->isa] : ag__isa_names[ag__isa_best()]; }
AG_API const char *ag_dtype_name(ag_dtype dtype) {
    static const char *const names[] = { "float32", "float64", "float16", "bfloat16", "int32", "int64", "bool" };
    return (unsigned)dtype < sizeof names / sizeof names[0] ? names[dtype] : "?";   /* unsigned: an ARM EABI enum may be unsigned */
}

/* ==== >>alloc: tensor allocation ==== */
static size_t ag__esize(int dtype) { static const unsigned char size[7] = { 4, 8, 2, 2, 4, 8, 1 }; return size[dtype]; }

/* validates a user shape; writes numel */
static bool ag__check_shape(ag_ctx *ctx, const char *op, int ndim, const int64_t *shape, int64_t *numel) {
    int64_t n = 1; int i;
    if (ndim < 0 || ndim > AG_MAX_DIMS) { ag__fail(ctx, "%s: ndim %d is out of range (0 to %d)", op, ndim, AG_MAX_DIMS); return false; }
    if (ndim > 0 && !shape) { ag__fail(ctx, "%s: shape is NULL for ndim %d", op, ndim); return false; }
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0) { ag__fail(ctx, "%s: negative size %lld in dim %d", op, (long long)shape[i], i); return false; }
        /* bound the product of the non-zero sizes, so strides of an empty tensor cannot overflow either */
        if (shape[i] > 0 && n > AG__MAX_NUMEL / shape[i]) { ag__fail(ctx, "%s: shape has too many elements", op); return false; }
        if (shape[i] > 0) n *= shape[i];
    }
    for (i = 0; i < ndim; i++) if (shape[i] == 0) n = 0;
    *numel = n;
    return true;
}

/* a * b for sizes and counts that come from user integers (shapes, padding, strides, windows):
   false unless both are >= 0 and the product is at most AG__MAX_NUMEL (2^48), which leaves
   room for any later byte or offset arithmetic in int64 */
static bool ag__size_mul(int64_t a, int64_t b, int64_t *out) {
    if ((uint64_t)(a | b) < ((uint64_t)1 << 24)) { *out = a * b; return true; }   /* both in [0, 2^24): no division (~40 cycles) */
    if (a < 0 || b < 0 || (a != 0 && b > AG__MAX_NUMEL / a)) return false;
    *out = a * b;
    return true;
}
/* the element count of a shape, checked as above */
static bool ag__numel_of(int ndim, const int64_t *shape, int64_t *numel) {
    int64_t n = 1;
    int i;
    for (i = 0; i < ndim; i++) if (!ag__size_mul(n, shape[i], &n)) return false;
    *numel = n;
    return true;
}

/* (in unsigned arithmetic: an empty tensor may have dims whose product overflows; its strides are never used) */
static void ag__contig_strides(int ndim, const int64_t *shape, int64_t *stride) {
    uint64_t s = 1; int i;
    for (i = ndim - 1; i >= 0; i--) { stride[i] = (int64_t)s; s *= (uint64_t)shape[i]; }
}

/* zeroed memory that lives until ag_ctx_free (16-byte aligned): persistent tensors, hooks, optimizers */
static void *ag__persist_alloc(ag_ctx *ctx, size_t bytes, const char *what) {
    size_t link = ag__align_up(sizeof(ag__plink), 16);
    char *mem = (char *)ag__heap_alloc(ctx, link + bytes);
    if (!mem) { ag__fail(ctx, "%s: out of memory allocating %zu persistent bytes", what, bytes); return NULL; }
    memset(mem, 0, link + bytes);
    ((ag__plink *)mem)->next = ctx->persist;
    ((ag__plink *)mem)->prev = NULL;
    ((ag__plink *)mem)->bytes = link + bytes;
    if (ctx->persist) ctx->persist->prev = (ag__plink *)mem;
    ctx->persist = (ag__plink *)mem;
    ctx->persistent_bytes += link + bytes;
    return mem + link;
}
/* gives back one allocation of ag__persist_alloc */
static void ag__persist_free(ag_ctx *ctx, void *ptr) {
    ag__plink *p;
    if (!ptr) return;
    p = (ag__plink *)(void *)((char *)ptr - ag__align_up(sizeof(ag__plink), 16));
    if (p->prev) p->prev->next = p->next; else ctx->persist = p->next;
    if (p->next) p->next->prev = p->prev;
    ctx->persistent_bytes -= p->bytes;
    ag__heap_free(ctx, p);
}

/* One allocation: [struct][shape][stride][inputs] ... [data], in the arena or persistent.
   nin: room for that many op inputs. A shape an op computed from user integers (a padded
   convolution, a huge batch) is checked here too: more than AG__MAX_NUMEL elements fail. */
static ag_tensor ag__tensor_zero;   /* zeros (static storage), never written: the template of every new tensor */
static ag_tensor *ag__alloc_tensor_z(ag_ctx *ctx, int dtype, int ndim, const int64_t *shape, int nin, bool with_data, bool persistent, bool zero) {
    int64_t numel = 1; int i;
    size_t head = ag__align_up(sizeof(ag_tensor) + 2 * (size_t)ndim * sizeof(int64_t) + (size_t)nin * sizeof(ag_tensor *), 16);
    size_t data_off, bytes, total, dalign;
    char *mem;
    ag_tensor *t;
    if (!ag__numel_of(ndim, shape, &numel)) {
        char s[200];
        ag__fail(ctx, "a result of shape %s would have more than 2^48 elements", ag__shape_str(s, sizeof s, ndim, shape));
        return NULL;
    }
    if (with_data && sizeof(size_t) < 8 && (uint64_t)numel > ((uint64_t)SIZE_MAX - 4096 - head) / 8 / ag__esize(dtype)) {   /* only a 32-bit size_t can overflow: 2^48 elements of 8 bytes fit in 64 bits */
        char s[200];
        ag__fail(ctx, "a result of shape %s does not fit in this machine's address space", ag__shape_str(s, sizeof s, ndim, shape));
        return NULL;
    }
    bytes = with_data ? (size_t)numel * ag__esize(dtype) : 0;
    dalign = bytes >= 256 ? AG__DATA_ALIGN : 16;   /* tiny tensors: no cache-line padding */
    data_off = with_data ? ag__align_up(head, dalign) : head;
    total = data_off + bytes;
    if (persistent) {   /* the heap only promises 16-byte alignment: room to align the data */
        if (!(mem = (char *)ag__persist_alloc(ctx, total + AG__DATA_ALIGN, "persistent tensor"))) return NULL;
        data_off = with_data ? ag__align_up((size_t)mem + head, dalign) - (size_t)mem : data_off;
    } else {
        mem = (char *)ag__arena_alloc(ctx, total, with_data ? dalign : 16);
        if (!mem) return NULL;
    }
    t = (ag_tensor *)mem;
    *t = ag__tensor_zero;   /* not memset: gcc -O2 makes that a rep stos, ~40 cycles on AMD; a copy of zeros is ~13 stores */
    t->tag = persistent ? AG__TAG_PERSISTENT : AG__TAG_ARENA | (ctx->gen & AG__TAG_GEN);
    t->ctx = ctx;
    t->dtype = (uint8_t)dtype;
    t->ndim = (uint8_t)ndim;
    t->numel = numel;
    t->shape = (int64_t *)(t + 1);
    t->stride = t->shape + ndim;
    t->in = (ag_tensor **)(t->stride + ndim);
    t->nin = nin;   /* room for inputs; ag__finish sets the real count */
    t->version = &t->own_version;
    t->seq = ++ctx->seq;
    for (i = 0; i < ndim; i++) t->shape[i] = shape[i];
    ag__contig_strides(ndim, shape, t->stride);
    if (with_data) {
        t->data = mem + data_off;
        if (zero) memset(t->data, 0, bytes);
    }
    if (persistent) { t->flags = AG__PERSISTENT; ctx->persistent_tensors++; }
    return t;
}

static ag_tensor *ag__alloc_tensor(ag_ctx *ctx, int dtype, int ndim, const int64_t *shape, int nin, bool with_data, bool persistent) {
    return ag__alloc_tensor_z(ctx, dtype, ndim, shape, nin, with_data, persistent, true);
}
/* an op's result: contiguous, zeroed, with room for nin inputs */
static ag_tensor *ag__result(ag_ctx *ctx, int dtype, int ndim, const int64_t *shape, int nin) {
    return ag__alloc_tensor_z(ctx, dtype, ndim, shape, nin, true, false, true);
}
/* the same, not zeroed: for ops that write every element */
static ag_tensor *ag__result_raw(ag_ctx *ctx, int dtype, int ndim, const int64_t *shape, int nin) {
    return ag__alloc_tensor_z(ctx, dtype, ndim, shape, nin, true, false, false);
}

/* a view of t's storage */
/* an arena tensor made now refers to persistent t until the next reset (ag_free_persistent refuses) */
static void ag__mark_used(ag_tensor *t) { if (t && (t->flags & AG__PERSISTENT)) t->use_gen = t->ctx->gen; }
static ag_tensor *ag__view_of(ag_tensor *t, int ndim, const int64_t *shape, const int64_t *stride, int64_t offset) {
    int i;
    ag_tensor *v = ag__alloc_tensor(t->ctx, t->dtype, ndim, shape, 1, false, false);
    if (!v) return NULL;
    ag__mark_used(t);   /* v shares its storage */
    for (i = 0; i < ndim; i++) v->stride[i] = stride[i];
    v->data = t->data + offset * (int64_t)ag__esize(t->dtype);
    v->version = t->version;   /* in-place writes through either are seen by both */
    v->vb = t->vb;             /* and a view of one example is that view of every example */
    v->in[0] = NULL;           /* ag__finish sets it to the tensor viewed (ag__view_step follows it) */
    v->flags |= AG__VIEW;
    return v;
}


/* ==== >>optable: the op table ====
   Every per-op fact is in the op's row here or in the op's block in >>ops; no switch over
   ops lives anywhere else (the SIMD fast paths of >>simd list the ops they speed up, and an
   op without one runs the scalar kernel). The columns of a row:
     name      what ag_op returns; the enum AG__OP_<name>
     backward  its reverse-mode rule, ag__bw_<backward>; "none": no gradient (masks, comparisons,
               argmax), and then nothing records the op in the graph
     jvp       its forward-mode rule, ag__jvp_<jvp>: "diag" applies the backward rule to the
               tangent (elementwise ops and softmax, whose Jacobian is symmetric), "same" passes
               the tangent through, "none" gives zero
     kernel    what computes its values, at build time and when ag_replay reruns the step,
               ag__rerun_<kernel>; "none" for views and copies (their data moves are steps of
               their own) and for ops built from other ops
     saves     what its backward reads (AG__SAVES_<saves>); an in-place write to one of those
               since the op was recorded makes backward stop with an error. A wrong entry
               silently disables that check, so think about it for every new op.
   The elementwise ops are rows of AG__BINARY_OPS and AG__UNARY_OPS: their kernel is the
   generated loop over the formula macro AG__F_<name> that sits in the op's block.
     batch     how ag_vmap runs it on batched inputs (AG__BATCH_<batch>): map, rows, mask, dim, loop, self, none

   ADDING AN OP (ag_softplus is the worked example: grep "softplus")
     1. a row below: in AG__UNARY_OPS / AG__BINARY_OPS for an elementwise op, else AG__OTHER_OPS;
     2. one block in >>ops: the public function (validate with a message naming the op and the
        shapes, allocate the result, run the kernel, ag__finish), the backward rule with its
        formula in a comment, written with the library's own ops so that create_graph works,
        its jvp rule unless diag/same/none fits, and for an elementwise op AG__F_<name>;
        its batch rule: map for an elementwise kernel, loop for any other kernel that reads only
        y->in and y's parameters, self when the block makes its result from other ops or views;
     3. its declaration in >>api and a line in the README's op list;
     4. tests: a row in tests/test_gradcheck.c (F64 finite differences, first and second order;
        the same rows check the forward-mode rule against reverse mode), a PyTorch case in
        tests/gen_reference.py (rerun it, commit tests/data/reference.txt) with its entry in
        tests/test_reference.c, the op inside a model of tests/test_replay.c, and a row in
        tests/test_errors.c for each message it can give. */
#define AG__SHAPE_OPS(X) \
    X(to, to, same, none, none, self) X(contiguous, contiguous, same, none, none, self) \
    X(reshape, reshape, reshape, none, none, self) X(squeeze, reshape, reshape, none, none, self) \
    X(unsqueeze, reshape, reshape, none, none, self) X(transpose, transpose, transpose, none, none, self) \
    X(permute, permute, permute, none, none, self) X(expand, expand, same, none, none, self) \
    X(slice, slice, slice, none, none, self) X(slice_backward, slice_backward, slice_backward, none, none, self) \
    X(cat, cat, cat, none, none, self) X(vmap_in, vmap_in, vmap_in, none, none, self) X(vmap_out, vmap_out, vmap_out, none, none, self) \
    X(vmap_expand, vmap_expand, vmap_expand, none, none, self) X(as_strided, as_strided, as_strided, none, none, self) \
    X(as_strided_backward, as_strided_backward, as_strided_backward, none, none, self) X(copy_slices, copy_slices, copy_slices, none, none, self) \
    X(gather_rows, gather_rows, gather_rows, gather_rows, none, loop) \
    X(scatter_add_rows, scatter_add_rows, scatter_add_rows, scatter_add_rows, none, loop) \
    X(unfold, unfold, unfold, unfold, none, loop) X(fold, fold, fold, fold, none, loop) \
    X(conv2d, conv2d, conv2d, conv2d, ab, loop) X(conv2d_weight, conv2d_weight, conv2d, conv2d, ab, loop)
/* y = AG__F_<name>(T, M, u, v) for u from a and v from b, broadcast (M: the libm suffix) */
#define AG__BINARY_OPS(X) \
    X(add, add, add, binary, none, map) X(sub, sub, sub, binary, none, map) X(mul, mul, mul, binary, cross, map) \
    X(div, div, div, binary, div, map) X(maximum, extremum, extremum, binary, ab, map) \
    X(minimum, extremum, extremum, binary, ab, map) X(gt_mask, none, none, binary, none, map) X(eq_mask, none, none, binary, none, map) \
    X(tanh_grad, none, none, binary, none, map) X(sigmoid_grad, none, none, binary, none, map) \
    X(relu_grad, none, none, binary, none, map) X(atan2, atan2, atan2, binary, ab, map) X(hypot, hypot, hypot, binary, ab, map) \
    X(logaddexp, logaddexp, logaddexp, binary, ab, map) X(fmod, fmod, fmod, binary, ab, map) X(remainder, fmod, fmod, binary, ab, map) \
    X(pow_tensor, pow_tensor, pow_tensor, binary, ab, map)
/* y = AG__F_<name>(T, M, v, a, b) for v from x, with the op's parameters a = y->fp[0], b = y->fp[1] */
#define AG__UNARY_OPS(X) \
    X(neg, neg, diag, unary, none, map) X(pow, pow, diag, unary, x, map) X(add_scalar, add_scalar, diag, unary, none, map) \
    X(mul_scalar, mul_scalar, diag, unary, none, map) X(exp, exp, diag, unary, y, map) X(log, log, diag, unary, x, map) \
    X(sqrt, sqrt, diag, unary, y, map) X(abs, abs, diag, unary, x, map) X(tanh, tanh, diag, unary, y, map) \
    X(sigmoid, sigmoid, diag, unary, y, map) X(relu, relu, diag, unary, x, map) X(leaky_relu, leaky_relu, diag, unary, x, map) \
    X(gelu, gelu, diag, unary, x, map) X(gelu_tanh, gelu_tanh, diag, unary, x, map) X(silu, silu, diag, unary, x, map) \
    X(erf, erf, diag, unary, x, map) X(clamp, clamp, diag, unary, x, map) X(softplus, softplus, diag, unary, x, map) \
    X(sin, sin, diag, unary, x, map) X(cos, cos, diag, unary, x, map) X(tan, tan, diag, unary, y, map) X(asin, asin, diag, unary, x, map) \
    X(acos, acos, diag, unary, x, map) X(atan, atan, diag, unary, x, map) X(sinh, sinh, diag, unary, x, map) X(cosh, cosh, diag, unary, x, map) \
    X(asinh, asinh, diag, unary, x, map) X(acosh, acosh, diag, unary, x, map) X(atanh, atanh, diag, unary, x, map) \
    X(log2, log2, diag, unary, x, map) X(log10, log10, diag, unary, x, map) X(log1p, log1p, diag, unary, x, map) X(exp2, exp2, diag, unary, y, map) \
    X(expm1, expm1, diag, unary, y, map) X(rsqrt, rsqrt, diag, unary, y, map) X(reciprocal, reciprocal, diag, unary, y, map) \
    X(square, square, diag, unary, x, map) X(floor, zero, diag, unary, none, map) X(ceil, zero, diag, unary, none, map) \
    X(round, zero, diag, unary, none, map) X(trunc, zero, diag, unary, none, map) X(frac, frac, diag, unary, none, map) \
    X(softsign, softsign, diag, unary, x, map) X(logsigmoid, logsigmoid, diag, unary, x, map) \
    X(elu, elu, diag, unary, x, map) X(selu, elu, diag, unary, x, map) X(celu, celu, diag, unary, x, map) X(hardtanh, hardtanh, diag, unary, x, map) \
    X(hardsigmoid, hardsigmoid, diag, unary, x, map) X(hardswish, hardswish, diag, unary, x, map) X(mish, mish, diag, unary, x, map) \
    X(between, none, none, unary, none, map) X(rsub_scalar, rsub_scalar, diag, unary, none, map) X(rdiv_scalar, rdiv_scalar, diag, unary, xy, map) \
    X(sign, zero, diag, unary, none, map) X(rpow_scalar, rpow_scalar, diag, unary, y, map) X(relu_mask, none, none, unary, none, map) \
    X(leaky_mask, none, none, unary, none, map) X(clamp_mask, none, none, unary, none, map)
#define AG__OTHER_OPS(X) \
    X(argmax, none, none, argmax, none, loop) X(argmin, none, none, argmax, none, loop) X(sum, sum, sum, reduce, none, mask) X(mean, sum, sum, reduce, none, mask) \
    X(max, max, max, reduce, xy, mask) X(min, max, max, reduce, xy, mask) X(matmul, matmul, matmul, matmul, cross, rows) \
    X(softmax, softmax, diag, softmax, y, dim) X(log_softmax, log_softmax, log_softmax, softmax, y, dim) \
    X(bce_with_logits, bce_with_logits, bce_with_logits, none, ab, self) X(var, var, var, none, x, self) X(norm, norm, norm, none, xy, self) \
    X(linear, linear, linear, linear, ab, rows) \
    X(take, take, take, take, b, loop) X(put_add, put_add, put_add, take, b, loop) X(put, put_add, put_add, take, b, loop) \
    X(argsort, none, none, argsort, none, loop) X(pool_argmax, none, none, pool_argmax, none, loop) X(cumargmax, none, none, cumargmax, none, loop) X(cumargmin, none, none, cumargmax, none, loop) \
    X(cumsum, cumsum, cumsum, cumsum, none, loop) X(tril, tril, tril, tril, none, loop) X(triu, tril, tril, tril, none, loop) X(flip, flip, flip, flip, none, loop) \
    X(custom, custom, custom, none, all, self) X(checkpoint, checkpoint, none, none, all, none) X(relu_, relu_, diag, relu_, y, none) \
    X(eq, none, none, int, none, map) X(ne, none, none, int, none, map) X(lt, none, none, int, none, map) X(le, none, none, int, none, map) \
    X(gt, none, none, int, none, map) X(ge, none, none, int, none, map) X(logical_and, none, none, int, none, map) \
    X(logical_or, none, none, int, none, map) X(logical_xor, none, none, int, none, map) X(logical_not, none, none, int, none, map) \
    X(isnan, none, none, int, none, map) X(isinf, none, none, int, none, map) X(isfinite, none, none, int, none, map) \
    X(floor_divide, none, none, int, none, map) X(where, where, where, where, x, map)
#define AG__OP_LIST(X) AG__SHAPE_OPS(X) AG__BINARY_OPS(X) AG__UNARY_OPS(X) AG__OTHER_OPS(X)

/* what a backward rule reads: x = input 0, y = the output, ab = both inputs, b = input 1; cross: input i
   when the other requires grad (d a uses b, d b uses a); div: b always, a when b requires grad */
/* how ag_vmap runs the op on batched inputs (>>vmap): map: the kernel once over every example
   (elementwise: the batch dims are more dims to it); rows: the same when only input 0 is batched
   (a product: the examples are more rows of one product), else loop; mask, dim: the kernel once
   over every example with its dims (a mask in ip[0]: reductions; a dim in ip[0]: softmax) moved
   past the batch dims; loop: the kernel once per example; self: the
   result carries its levels already (a view shares them, a copy takes them, an op made of other
   ops got them from those, or the op's block batches itself); none: refused with a message */
enum { AG__BATCH_map, AG__BATCH_rows, AG__BATCH_mask, AG__BATCH_dim, AG__BATCH_loop, AG__BATCH_self, AG__BATCH_none };
enum { AG__SAVES_none, AG__SAVES_x, AG__SAVES_y, AG__SAVES_xy, AG__SAVES_ab, AG__SAVES_b, AG__SAVES_cross, AG__SAVES_div, AG__SAVES_all };

#define AG__OP_ENUM(name, bw, jvp, kernel, saves, batch) AG__OP_##name,
enum { AG__OP_LIST(AG__OP_ENUM) AG__OP_COUNT };
#define AG__OP_DECL(name, bw, jvp, kernel, saves, batch) static int ag__bw_##bw(ag_tensor *y, ag_tensor *g, ag_tensor **gin); \
    static int ag__jvp_##jvp(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out); \
    static bool ag__rerun_##kernel(int op, ag_tensor *y);
AG__OP_LIST(AG__OP_DECL)
#define AG__OP_ROW(name, bw, jvp, kernel, saves, batch) { #name, ag__bw_##bw, ag__jvp_##jvp, ag__rerun_##kernel, AG__SAVES_##saves, AG__BATCH_##batch },
static const ag__opdef ag__ops[] = { AG__OP_LIST(AG__OP_ROW) };
/* the table and the enum agree (a negative array size stops the compile otherwise) */
typedef char ag__op_table_is_complete[(int)(sizeof ag__ops / sizeof ag__ops[0]) == AG__OP_COUNT && AG__OP_COUNT <= 255 ? 1 : -1];

/* a node of this op takes part in reverse mode */
static bool ag__differentiable(int op) { return ag__ops[op].backward != ag__bw_none; }

/* What a public function does with a 16-bit (F16, BF16) or integer (I32, I64, BOOL) argument,
   by its name (>>half, >>int):
   AG__HALF_KEEP  takes it as it is. Any dtype: views, copies, accessors, gradients, comparisons
                  and logic, where, masked_fill, integer arithmetic (add sub mul maximum minimum
                  floor_divide remainder fmod neg abs sign), sums, in-place add_ sub_ mul_ fill_
                  zero_ copy_, cat and stack. 16-bit also: every elementwise op, means, max and
                  min, matmul, linear and every in-place op (their results stay 16-bit);
   AG__HALF_NO    refuses it with a message: what writes its argument (initialisers, batch
                  norm's running statistics, the other in-place ops for integers) or knows it
                  by identity (optimizers, the functional API) and takes a list of tensors;
   otherwise      computes on it converted to F32 (an ag_to node, so gradients reach a 16-bit
                  input) and returns F32, as torch.autocast runs softmax, losses and norms in
                  float32 and as PyTorch promotes an integer input of a floating-point op. */
#define AG__NAME_OF_ROW(name, bw, jvp, kernel, saves, batch) #name,
static const char *const ag__keep_any[] = {
    "to", "contiguous", "reshape", "squeeze", "squeeze_all", "unsqueeze", "transpose", "permute", "expand", "slice", "select",
    "narrow", "flatten", "unflatten", "movedim", "chunk", "split", "unbind", "cat", "stack", "context", "type", "ndim", "dim",
    "shape", "strides", "numel", "is_contiguous", "data", "item", "get", "copy_out", "print", "name", "set_name", "version",
    "op", "input", "num_inputs", "graph_dot_ex", "is_leaf", "requires_grad", "set_requires_grad", "retain_grad", "grad",
    "zero_grad", "detach", "free_persistent", "backward", "make_dual", "tangent", "register_hook", "sum", "sum_dim", "sum_dims",
    "add_", "sub_", "mul_", "fill_", "zero_", "copy_", "save_safetensors", "save_safetensors_mem", "load_safetensors",
    "load_safetensors_mem", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not",
    "isnan", "isinf", "isfinite", "floor_divide", "where", "masked_fill", "one_hot", "add", "sub", "mul", "maximum", "minimum",
    "remainder", "fmod", "neg", "abs", "sign", "index", "gather", "gather_t", "index_select", "index_select_t", "scatter_add",
    "scatter_add_t", "batched_index", "vmap", NULL };
static const char *const ag__keep_half[] = {
    "mean", "mean_dim", "mean_dims", "max", "min", "max_dim", "min_dim", "matmul", "linear", "div_", "add_scalar_",
    "mul_scalar_", "relu_", "clamp_",
    AG__BINARY_OPS(AG__NAME_OF_ROW) AG__UNARY_OPS(AG__NAME_OF_ROW) NULL };
static const char *const ag__refuse[] = {
    "init_constant", "init_uniform", "init_normal", "init_xavier_uniform", "init_xavier_normal", "init_kaiming_uniform",
    "init_kaiming_normal", "init_linear", "batch_norm", "per_example_linear_grads", "div_", "add_scalar_", "mul_scalar_",
    "relu_", "clamp_", NULL };
static bool ag__listed(const char *const *list, const char *fn) {
    int i;
    for (i = 0; list[i]; i++) if (!strcmp(fn, list[i])) return true;
    return false;
}
static int ag__half_policy(const char *fn, int dtype) {
    if (fn[0] == 'a' && fn[1] == 'g' && fn[2] == '_') fn += 3;   /* __func__ of a public function */
    if (ag__listed(ag__keep_any, fn) || (AG__HALF(dtype) && ag__listed(ag__keep_half, fn))) return AG__HALF_KEEP;
    return ag__listed(ag__refuse, fn) ? AG__HALF_NO : AG__HALF_F32;
}
static void ag__half_refuse(const ag_tensor *t, const char *fn) {
    if (fn[0] == 'a' && fn[1] == 'g' && fn[2] == '_') fn += 3;
    if (AG__INT(t->dtype)) ag__fail(t->ctx, "%s: takes no %s tensors (convert with ag_to(t, AG_F32))", fn, ag_dtype_name((ag_dtype)t->dtype));
    else ag__fail(t->ctx, "%s: takes no %s tensors (convert with ag_to(t, AG_F32); to train in 16 bits, keep float32 "
                  "parameters and compute on 16-bit copies: README, Mixed precision)", fn, ag_dtype_name((ag_dtype)t->dtype));
}
/* What refuses a tensor batched by ag_vmap (>>vmap), by name: what would read or write the data of
   example 0 alone (accessors, in-place ops, saving, gradcheck) and the index arguments that are
   read into index arrays when the op is built; true after a message */
static const char *const ag__vmap_refuse[] = {
    "item", "get", "data", "copy_out", "print", "gradcheck", "save_safetensors", "save_safetensors_mem", NULL };
static bool ag__vmap_refused(const ag_tensor *t, const char *fn) {
    size_t n;
    if (fn[0] == 'a' && fn[1] == 'g' && fn[2] == '_') fn += 3;
    n = strlen(fn);
    if (!strcmp(fn, "index"))
        ag__fail(t->ctx, "an index tensor batched by ag_vmap is supported by gather_t, cross_entropy_t and nll_loss_t only "
                 "(index_select_t, scatter_add_t and scatter_t read it once; pass an unbatched index)");
    else if (n && fn[n - 1] == '_') ag__fail(t->ctx, "%s: in-place ops are not supported on tensors inside ag_vmap (use the out-of-place op)", fn);
    else if (ag__listed(ag__vmap_refuse, fn)) ag__fail(t->ctx, "%s: not supported on a tensor inside ag_vmap (it would see example 0 alone); return the tensor from f and read ag_vmap's output", fn);
    else return false;
    return true;
}
/* ---- version counters: what a backward rule reads must not have changed since ---- */
#define AG__SAVES_OUT 0x80000000u
static uint32_t ag__custom_saves(const ag_tensor *y);
/* which values node y's backward reads: bit i for input i, AG__SAVES_OUT for y itself */
static uint32_t ag__saves(const ag_tensor *y) {
    bool r0 = y->nin > 0 && (y->in[0]->flags & AG__REQ_GRAD), r1 = y->nin > 1 && (y->in[1]->flags & AG__REQ_GRAD);
    switch (y->op->saves) {
    case AG__SAVES_x: return 1u;
    case AG__SAVES_y: return AG__SAVES_OUT;
    case AG__SAVES_xy: return 1u | AG__SAVES_OUT;
    case AG__SAVES_ab: return 3u;
    case AG__SAVES_b: return 2u;
    case AG__SAVES_cross: return (r1 ? 1u : 0u) | (r0 ? 2u : 0u);
    case AG__SAVES_div: return (r1 ? 1u : 0u) | 2u;
    case AG__SAVES_all: return y->op == &ag__ops[AG__OP_custom] ? ag__custom_saves(y) : 0x7fffffffu | AG__SAVES_OUT;
    default: return 0;
    }
}

static uint32_t ag__saved_sum(const ag_tensor *y, uint32_t mask) {
    uint32_t sum = 0;
    int i;
    for (i = 0; i < y->nin && i < 31; i++) if (mask & (1u << i)) sum += *y->in[i]->version;
    return sum;
}
static void ag__save_versions(ag_tensor *y) {
    y->saved_version = ag__saved_sum(y, ag__saves(y));
    y->out_version = *y->version;
}

/* ---- the tape of a capture (ag_capture_begin): what ag_replay runs again ---- */
enum { AG__STEP_OP, AG__STEP_COPY, AG__STEP_ACC, AG__STEP_RAND, AG__STEP_INDEX };
/* an integer index array an op copied from the caller (gather_rows, embedding, cross_entropy
   targets): idx[i] = i * stride + index[i], index[i] in [0, bound); a replay reads it again */
typedef struct {
    const char *op, *what, *where;   /* for the message: "cross_entropy: target 7 at row 2 is out of range for ..." */
    int64_t *idx;
    const int32_t *index;
    const int64_t *index64;           /* or an int64 array ... */
    ag__idx *dst;                     /* ... copied as it is into an index tensor's data (take) */
    bool has_ignore;                  /* entries equal to ignore are allowed: index 0 in dst, 0 in keep (1 elsewhere) */
    int64_t ignore;
    ag_tensor *keep;
    int64_t n, stride, bound;
    char range[128];                  /* "a table of shape [4, 3]", "5 classes (logits [4, 5])" */
} ag__index;
typedef struct {
    uint8_t kind, op;     /* AG__STEP_*; the op (AG__STEP_OP), the draw (AG__STEP_RAND), create_graph (AG__STEP_ACC) */
    uint16_t fuse;        /* OP: the first of a fused run of this many steps (ag_capture_fuse); 0: on its own */
    ag_tensor *y, *x;     /* OP: the result; COPY: y = x; ACC: leaf y gets gradient x; RAND: y is drawn */
    double p;             /* RAND: dropout's p */
    ag__index *index;     /* INDEX: the array to read again */
} ag__step;
#define AG__STEPS_PER_CHUNK 256
typedef struct ag__steps { struct ag__steps *next; int n; ag__step s[AG__STEPS_PER_CHUNK]; } ag__steps;
struct ag_capture {
    ag_ctx *ctx;
    struct ag_capture *next;   /* the context's list */
    ag__steps *first, *last;
    size_t n;
    uint32_t gen;            /* ctx->gen of the capture: a reset frees the recorded tensors */
    bool failed;             /* something not recordable ran, or the tape could not grow */
    uint64_t failures;       /* ctx->failures when the capture began */
};
#define AG__TAPING(ctx) ((ctx)->capture && !(ctx)->tape_pause)
static void ag__tape_index(ag_ctx *ctx, int kind, int op, ag_tensor *y, ag_tensor *x, double p, ag__index *index) {
    ag_capture *g = ctx->capture;
    ag__step *st;
    if (!g || ctx->tape_pause || g->failed) return;
    if (kind == AG__STEP_OP && g->last && g->last->n && g->last->s[g->last->n - 1].kind == AG__STEP_OP &&
        g->last->s[g->last->n - 1].y == y) return;   /* the same result finished twice (relu_) */
    if (!g->last || g->last->n == AG__STEPS_PER_CHUNK) {
        ag__steps *c = (ag__steps *)ag__heap_alloc(ctx, sizeof *c);
        if (!c) { g->failed = true; ag__fail(ctx, "capture: out of memory for the step record"); return; }
        c->next = NULL; c->n = 0;
        if (g->last) g->last->next = c; else g->first = c;
        g->last = c;
    }
    st = &g->last->s[g->last->n++];
    st->kind = (uint8_t)kind; st->op = (uint8_t)op; st->fuse = 0; st->y = y; st->x = x; st->p = p; st->index = index;
    if (kind == AG__STEP_OP) y->flags |= AG__CAPTURED;
    g->n++;
}
static void ag__tape(ag_ctx *ctx, int kind, int op, ag_tensor *y, ag_tensor *x, double p) { ag__tape_index(ctx, kind, op, y, x, p, NULL); }
/* fills r->idx from r->index, checking every entry; false (and an error naming the op) if one is out of range */
static bool ag__index_read(ag_ctx *ctx, const ag__index *r) {
    int64_t i;
    for (i = 0; i < r->n; i++) {
        int64_t v = r->index64 ? r->index64[i] : r->index[i];
        bool kept = !r->has_ignore || v != r->ignore;
        if (r->keep && r->keep->dtype == AG_F32) ((float *)(void *)r->keep->data)[i] = kept ? 1.0f : 0.0f;
        else if (r->keep) ((double *)(void *)r->keep->data)[i] = kept ? 1.0 : 0.0;
        if (!kept) { r->dst[i] = 0; continue; }
        if (v < 0 || v >= r->bound) {
            ag__fail(ctx, "%s: %s %lld at %s %lld is out of range for %s", r->op, r->what, (long long)v, r->where, (long long)i, r->range);
            return false;
        }
        if (r->dst) r->dst[i] = v; else r->idx[i] = i * r->stride + v;
    }
    return true;
}
/* room for an index array of n entries (n >= 0), its size checked: NULL and a message if it cannot be */
static int64_t *ag__index_alloc(ag_ctx *ctx, const char *op, int64_t n) {
    int64_t bytes;
    if (!ag__size_mul(n ? n : 1, (int64_t)sizeof(int64_t), &bytes) || (uint64_t)bytes > (uint64_t)SIZE_MAX) {
        ag__fail(ctx, "%s: an index of %lld entries is too large", op, (long long)n);
        return NULL;
    }
    return (int64_t *)ag__arena_alloc(ctx, (size_t)bytes, 16);
}
/* room for n (>= 0) tensor pointers in the arena, its size checked (32-bit size_t) */
static ag_tensor **ag__ptr_alloc(ag_ctx *ctx, int64_t n) {
    int64_t bytes;
    if (!ag__size_mul(n ? n : 1, (int64_t)sizeof(ag_tensor *), &bytes) || (uint64_t)bytes > (uint64_t)SIZE_MAX) {
        ag__fail(ctx, "an array of %lld tensors is too large", (long long)n);
        return NULL;
    }
    return (ag_tensor **)ag__arena_alloc(ctx, (size_t)bytes, 16);
}
/* reads an index array for an op (r on the stack, r->idx allocated by the caller); while capturing,
   the step that reads it again at each replay is recorded */
static bool ag__index_take(ag_ctx *ctx, const ag__index *r) {
    ag__index *kept;
    if (!ag__index_read(ctx, r)) return false;
    if (!AG__TAPING(ctx)) return true;
    if (!(kept = (ag__index *)ag__arena_alloc(ctx, sizeof *kept, 16))) return false;
    *kept = *r;
    ag__tape_index(ctx, AG__STEP_INDEX, 0, NULL, NULL, 0, kept);
    return true;
}
/* t was rebased by an in-place op (its inputs and parameters are now the in-place op's):
   the steps that computed t before recompute it from its former self, which keeps them */
static void ag__tape_rebase(ag_ctx *ctx, const ag_tensor *t, ag_tensor *former) {
    ag_capture *g;
    ag__steps *c;
    int i;
    if (!(t->flags & AG__CAPTURED)) return;
    for (g = ctx->captures; g; g = g->next)   /* the running capture and the finished ones: replay
                                                 must keep running the op on its result's former self */
        for (c = g->first; c; c = c->next)
            for (i = 0; i < c->n; i++) if (c->s[i].kind == AG__STEP_OP && c->s[i].y == t) c->s[i].y = former;
}
/* false (and an error) when a capture is running: what cannot be replayed */
static bool ag__not_capturing(ag_ctx *ctx, const char *op, const char *what) {
    if (!ctx || !ctx->capture) return true;
    ctx->capture->failed = true;
    ag__fail(ctx, "%s: %s cannot be recorded for ag_replay (it ran between ag_capture_begin and ag_capture_end)", op, what);
    return false;
}

static bool ag__jvp(ag_tensor *y, int op, int nin, ag_tensor *const *in);

/* Links y into the graph when grad mode is on and an input requires grad, and gives it a
   tangent when an input has one. The inputs are kept in y->in either way (room for them was
   allocated with y): forward-mode rules read them. */
AG__NOINLINE static bool ag__vmap_rule(ag_tensor *y, int op, int nin, ag_tensor *const *in);
static ag_tensor *ag__view_again(ag_tensor *v, const char *name, int i);
/* the tensor view t was made from (its op's input 0, whose elements hold t's), or NULL: a view
   made by ag_detach, or a result that is a view of a buffer of its own (conv2d's) */
static ag_tensor *ag__view_step(const ag_tensor *t) {
    const ag_tensor *u;
    int64_t lo = 0, hi = 0, es;
    int d;
    if (!t || !(t->flags & AG__VIEW) || t->nin < 1 || !(u = t->in[0])) return NULL;
    es = (int64_t)ag__esize(u->dtype);
    for (d = 0; d < u->ndim; d++) {
        int64_t span = (u->shape[d] - 1) * u->stride[d];
        if (u->shape[d] == 0) return NULL;
        if (span < 0) lo += span; else hi += span;
    }
    return t->data >= u->data + lo * es && t->data < u->data + (hi + 1) * es ? (ag_tensor *)u : NULL;
}
/* A view made before an in-place write to the tensor it views (or to that tensor's base): its
   values are the new ones, but its graph (and tangent) lead to the tensor's former self, so a
   gradient through it would be wrong. Returns the rebased tensor, or NULL. */
static const ag_tensor *ag__stale_view(const ag_tensor *v) {
    const ag_tensor *t = v, *u;
    int depth = 0;
    while ((u = ag__view_step(t)) != NULL && depth++ < 64) {
        if ((u->flags & AG__REBASED) && u->seq > t->seq) return u;
        t = u;
    }
    return NULL;
}
/* the inputs of y that are views made before an in-place write get a fresh history (PyTorch's
   view regeneration); false after a message */
AG__NOINLINE static bool ag__views_again(ag_tensor *y, int op, int nin) {
    int i;
    for (i = 0; i < nin; i++)
        if (y->in[i] && (y->in[i]->flags & AG__VIEW) && ag__stale_view(y->in[i]) && !(y->in[i] = ag__view_again(y->in[i], ag__ops[op].name, i)))
            return false;
    return true;
}
static ag_tensor *ag__finish(ag_tensor *y, int op, int nin, ag_tensor *const *in) {
    int i;
    bool req = false, tangent = false, batched = false, view = false;
    if (!y) return NULL;
    AG_ASSERT(nin <= y->nin);   /* the result was allocated with room for its inputs */
    for (i = 0; i < nin; i++) {
        y->in[i] = in[i];
        ag__mark_used(in[i]);   /* y refers to it until the next reset */
        if (in[i] && (in[i]->flags & AG__REQ_GRAD)) req = true;
        if (in[i] && in[i]->tangent) tangent = true;
        if (in[i] && in[i]->vb) batched = true;
        if (in[i] && (in[i]->flags & AG__VIEW)) view = true;
    }
    if (batched && !ag__vmap_rule(y, op, nin, in)) return NULL;   /* inside ag_vmap (>>vmap) */
    if (!AG__FLOAT(y->dtype)) req = tangent = false;   /* integers and masks have no gradient */
    if (view && ((req && y->ctx->grad_enabled) || tangent) && !ag__views_again(y, op, nin)) return NULL;
    if (req && ag__differentiable(op) && y->ctx->grad_enabled) {
        y->op = &ag__ops[op];
        y->nin = nin;
        y->flags |= AG__REQ_GRAD;
        y->ctx->nodes++;
        ag__save_versions(y);
    }
    if (AG__TAPING(y->ctx)) ag__tape(y->ctx, AG__STEP_OP, op, y, NULL, 0);
    /* after recording, so that the tangent's own graph reaches y's inputs through y */
    if (tangent && !y->ctx->jvp_off && !ag__jvp(y, op, nin, y->in)) return NULL;
    return y;
}
static ag_tensor *ag__finish1(ag_tensor *y, int op, ag_tensor *a) { return ag__finish(y, op, 1, &a); }
static ag_tensor *ag__finish2(ag_tensor *y, int op, ag_tensor *a, ag_tensor *b) {
    ag_tensor *in[2];
    in[0] = a; in[1] = b;
    return ag__finish(y, op, 2, in);
}

/* ---- >>vmap: batched tensors (the core; ag_vmap itself is in >>functional) ----
   Inside ag_vmap a tensor is example 0 plus its levels (t->vb). An op on batched inputs runs as
   written on example 0 (so every shape check and message is the example's); ag__finish then
   gives the result room for every example and applies the op's batching rule (the op table's
   last column). Gradients flow through the same ops, so grad, vjp and jvp inside ag_vmap give
   per-example results, and a backward outside it sums over the examples. */
static int ag__vb_find(const ag__vbatch *vb, uint32_t id) {
    int k;
    for (k = 0; vb && k < vb->n; k++) if (vb->id[k] == id) return k;
    return -1;
}
static bool ag__vmap_running(const ag_ctx *ctx, uint32_t id) {
    int i;
    for (i = 0; i < ctx->vmap_depth; i++) if (ctx->vmap_active[i] == id) return true;
    return false;
}
/* adds level id to vb in id order; false after a message when vb has AG__VMAP_MAX already */
static bool ag__vb_insert(ag_ctx *ctx, const char *name, ag__vbatch *vb, uint32_t id, int64_t size, int64_t stride) {
    int k;
    if (vb->n == AG__VMAP_MAX) { ag__fail(ctx, "%s: more than %d levels of ag_vmap", name, AG__VMAP_MAX); return false; }
    for (k = vb->n; k > 0 && vb->id[k - 1] > id; k--) { vb->id[k] = vb->id[k - 1]; vb->size[k] = vb->size[k - 1]; vb->stride[k] = vb->stride[k - 1]; }
    vb->id[k] = id; vb->size[k] = size; vb->stride[k] = stride; vb->n++;
    return true;
}
/* u = the levels of the n tensors together (sorted by id); false after a message */
static bool ag__vmap_union(ag_ctx *ctx, const char *name, int n, ag_tensor *const *ts, ag__vbatch *u) {
    int i, k;
    memset(u, 0, sizeof *u);   /* all of it: gcc -O3 cannot see that only the first n levels are read */
    for (i = 0; i < n; i++) {
        const ag__vbatch *vb = ts[i] ? ts[i]->vb : NULL;
        for (k = 0; vb && k < vb->n; k++) {
            int at = ag__vb_find(u, vb->id[k]);
            if (at < 0 && !ag__vb_insert(ctx, name, u, vb->id[k], vb->size[k], 0)) return false;
            if (at >= 0 && u->size[at] != vb->size[k]) {
                ag__fail(ctx, "%s: batched inputs differ in batch size (%lld and %lld)", name, (long long)u->size[at], (long long)vb->size[k]);
                return false;
            }
        }
    }
    return true;
}
/* a view of t (not yet a node) whose levels are t's and level (id, size, stride); NULL after a message */
static ag_tensor *ag__vmap_level_view(ag_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                                      uint32_t id, int64_t size, int64_t level_stride) {
    ag__vbatch *vb = (ag__vbatch *)ag__arena_alloc(t->ctx, sizeof *vb, 16);
    ag_tensor *v;
    if (!vb) return NULL;
    if (t->vb) *vb = *t->vb; else vb->n = 0;
    if (!ag__vb_insert(t->ctx, "vmap", vb, id, size, level_stride) || !(v = ag__view_of(t, ndim, shape, stride, 0))) return NULL;
    v->vb = vb;
    v->ip[0] = id; v->ip[2] = size;
    return v;
}
/* the element offset of example b (counted over u's levels, the last fastest) in a tensor with levels vb */
static int64_t ag__vmap_offset(const ag__vbatch *u, int64_t b, const ag__vbatch *vb) {
    int64_t off = 0;
    int k;
    for (k = u->n - 1; k >= 0; k--) {
        int j = ag__vb_find(vb, u->id[k]);
        if (j >= 0) off += (b % u->size[k]) * vb->stride[j];
        b /= u->size[k];
    }
    return off;
}
static int64_t ag__vmap_count(const ag__vbatch *u) { int64_t n = 1; int k; for (k = 0; k < u->n; k++) n *= u->size[k]; return n; }
/* tmp: every example of t at once, an unbatched tensor [u's sizes..., nd dims shaped like
   shape] (t broadcast to it: stride 0 along a level t lacks and along broadcast dims); the
   caller has checked u->n + nd <= AG_MAX_DIMS */
static void ag__vmap_whole(ag_tensor *tmp, int64_t *sh, int64_t *st, const ag_tensor *t, const ag__vbatch *u, int nd, const int64_t *shape) {
    int k, i, lead = nd - t->ndim;
    *tmp = *t;
    tmp->vb = NULL; tmp->shape = sh; tmp->stride = st; tmp->ndim = (uint8_t)(u->n + nd); tmp->numel = 1;
    for (k = 0; k < u->n; k++) {
        int j = ag__vb_find(t->vb, u->id[k]);
        sh[k] = u->size[k]; st[k] = j >= 0 ? t->vb->stride[j] : 0;
    }
    for (i = 0; i < nd; i++) {
        int64_t own = i < lead ? 1 : t->shape[i - lead];
        sh[u->n + i] = shape ? shape[i] : own;
        st[u->n + i] = i < lead || (own == 1 && sh[u->n + i] != 1) ? 0 : t->stride[i - lead];
    }
    for (i = 0; i < tmp->ndim; i++) tmp->numel *= sh[i];
}
/* gives fresh result y its own storage for every example of u, example 0 first; false if out of memory */
static bool ag__vmap_storage(ag_tensor *y, const ag__vbatch *u, const char *name) {
    ag__vbatch *vb = (ag__vbatch *)ag__arena_alloc(y->ctx, sizeof *vb, 16);
    int64_t total, bytes, per = y->numel;
    int k;
    char *mem;
    if (!vb || !ag__size_mul(per, ag__vmap_count(u), &total) || !ag__size_mul(total, (int64_t)ag__esize(y->dtype), &bytes) ||
        (uint64_t)bytes > (uint64_t)SIZE_MAX / 2) {
        if (vb) ag__fail(y->ctx, "%s: the batched result is too large", name);
        return false;
    }
    if (!(mem = (char *)ag__arena_alloc(y->ctx, (size_t)bytes, AG__DATA_ALIGN))) return false;   /* not zeroed: a rerun writes
                                                                                                   every element (ag_replay relies on it too) */
    *vb = *u;
    for (k = u->n - 1; k >= 0; k--) { vb->stride[k] = per; per *= u->size[k]; }
    y->data = mem;
    y->vb = vb;
    return true;
}
static bool ag__rerun(int op, ag_tensor *y);
static void ag__copy_into(ag_tensor *dst, const ag_tensor *src);
static bool ag__contig(const ag_tensor *t);
#define AG__VMAP_NIN 8
/* tmp: example b (counted over u's levels) of t, unbatched */
static void ag__vmap_example(ag_tensor *tmp, const ag_tensor *t, const ag__vbatch *u, int64_t b) {
    *tmp = *t;
    tmp->vb = NULL;
    tmp->data += ag__vmap_offset(u, b, t->vb) * (int64_t)ag__esize(t->dtype);
}
/* runs op's kernel for every example of the inputs into fresh y: once over all of them when the
   rule allows (map, rows, mask, dim) and the batch dims fit, else example by example (loop) */
static bool ag__vmap_run(ag_tensor *y, int op, int nin, ag_tensor *const *in, const ag__vbatch *u, int rule) {
    ag_tensor ty, ti[AG__VMAP_NIN], *tin[AG__VMAP_NIN];
    int64_t sh[AG__VMAP_NIN + 1][AG_MAX_DIMS], st[AG__VMAP_NIN + 1][AG_MAX_DIMS], b, nb = ag__vmap_count(u), ip0 = y->ip[0];
    int i, whole = 0;   /* inputs made whole: all of them broadcast to y (-1, map), input 0 as it is (1), none (0: loop) */
    if (nin > AG__VMAP_NIN) { ag__fail(y->ctx, "%s: more than %d inputs inside ag_vmap", ag__ops[op].name, AG__VMAP_NIN); return false; }
    if (!ag__vmap_storage(y, u, ag__ops[op].name)) return false;
    if (u->n + y->ndim <= AG_MAX_DIMS && (nin == 0 || u->n + in[0]->ndim <= AG_MAX_DIMS)) {
        if (rule == AG__BATCH_map) whole = -1;   /* the batch dims are more dims to an elementwise kernel */
        else if (rule == AG__BATCH_rows && (op == AG__OP_linear || in[1]->ndim <= 2 || (in[0]->ndim >= 2 && in[1]->ndim <= in[0]->ndim))) {
            whole = 1;   /* x W^T, a @ b with b's batch dims short of a's: the examples of x (a) are more rows */
            for (i = 1; i < nin; i++) if (in[i] && in[i]->vb) whole = 0;   /* ... when only x is batched */
        } else if ((rule == AG__BATCH_mask || rule == AG__BATCH_dim) && nin == 1 && in[0]->ndim > 0) {
            whole = 1;   /* a reduction or softmax over dims of the example: the same dims, past the batch dims */
            ip0 = rule == AG__BATCH_mask ? (int64_t)((uint64_t)y->ip[0] << u->n) : y->ip[0] + u->n;
        }
    }
    if (whole) {
        ag__vmap_whole(&ty, sh[0], st[0], y, u, y->ndim, NULL);
        for (i = 0; i < nin; i++) {
            tin[i] = i == 0 || whole < 0 ? &ti[i] : in[i];
            if (whole < 0) ag__vmap_whole(&ti[i], sh[i + 1], st[i + 1], in[i], u, y->ndim, y->shape);
            else if (i == 0) ag__vmap_whole(&ti[0], sh[1], st[1], in[0], u, in[0]->ndim, NULL);
        }
        if (rule != AG__BATCH_dim || ag__contig(&ti[0])) {   /* softmax's kernel reads x dense */
            ty.in = tin;
            ty.ip[0] = ip0;
            return ag__rerun(op, &ty);
        }
    }
    for (b = 0; b < nb; b++) {
        ag__vmap_example(&ty, y, u, b);
        for (i = 0; i < nin; i++) { ag__vmap_example(&ti[i], in[i], u, b); tin[i] = &ti[i]; }
        ty.in = tin;
        if (!ag__rerun(op, &ty)) return false;
    }
    return true;
}
/* a copy of batched src into fresh dst: dst gets every example; false when dst is not a fresh result */
static bool ag__vmap_copy(ag_tensor *dst, const ag_tensor *src) {
    ag_tensor td, ts;
    int64_t b, nb = ag__vmap_count(src->vb);
    if (dst->op || (dst->flags & (AG__VIEW | AG__PERSISTENT)) || !ag__vmap_storage(dst, src->vb, "copy")) return false;
    for (b = 0; b < nb; b++) {
        ag__vmap_example(&td, dst, src->vb, b);
        ag__vmap_example(&ts, src, src->vb, b);
        ag__copy_into(&td, &ts);
    }
    return true;
}
/* ag__finish's step for an op with a batched input; false after a message */
AG__NOINLINE static bool ag__vmap_rule(ag_tensor *y, int op, int nin, ag_tensor *const *in) {
    ag_ctx *ctx = y->ctx;
    const char *name = ag__ops[op].name;
    ag__vbatch u;
    int i, k;
    if (ctx->capture) {
        ctx->capture->failed = true;
        ag__fail(ctx, "%s: a tensor batched by ag_vmap cannot be recorded for ag_replay", name);
        return false;
    }
    for (i = 0; i < nin && !ctx->backward_depth; i++)   /* a backward may still run through a finished ag_vmap's ops */
        for (k = 0; in[i] && in[i]->vb && k < in[i]->vb->n; k++)
            if (!ag__vmap_running(ctx, in[i]->vb->id[k])) {
                ag__fail(ctx, "%s: an input is a tensor of an ag_vmap that has returned (use the outputs ag_vmap gave, not tensors kept from inside f)", name);
                return false;
            }
    switch (ag__ops[op].batch) {
    case AG__BATCH_self: return true;
    case AG__BATCH_none: ag__fail(ctx, "%s: has no batching rule and cannot run inside ag_vmap", name); return false;
    default: return ag__vmap_union(ctx, name, nin, in, &u) && ag__vmap_run(y, op, nin, in, &u, ag__ops[op].batch);
    }
}
/* x with its dim `dim` made a batch level id (a view); NULL after a message */
static ag_tensor *ag__vmap_in(ag_tensor *x, uint32_t id, int dim) {
    int64_t sh[AG_MAX_DIMS], st[AG_MAX_DIMS];
    ag_tensor *v;
    int i, j = 0;
    if (!x) return NULL;
    if (ag__vb_find(x->vb, id) >= 0) { ag__fail(x->ctx, "vmap: a tensor is batched twice at one level"); return NULL; }
    for (i = 0; i < x->ndim; i++) if (i != dim) { sh[j] = x->shape[i]; st[j++] = x->stride[i]; }
    if (!(v = ag__vmap_level_view(x, x->ndim - 1, sh, st, id, x->shape[dim], x->stride[dim]))) return NULL;
    v->ip[1] = dim;
    return ag__finish1(v, AG__OP_vmap_in, x);
}
/* t, the same for each of `size` examples at level id (a view, stride 0 between them): its
   gradient stays per example inside ag_vmap and is summed over them after */
static ag_tensor *ag__vmap_expand(ag_tensor *t, uint32_t id, int64_t size) {
    ag_tensor *v = t ? ag__vmap_level_view(t, t->ndim, t->shape, t->stride, id, size, 0) : NULL;
    return v ? ag__finish1(v, AG__OP_vmap_expand, t) : NULL;
}
static ag_tensor *ag__vmap_settle(ag_tensor *g, const ag_tensor *t, bool all);
static int ag__bw_vmap_expand(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y per example (summed once outside the ag_vmap) */
    gin[0] = ag__vmap_settle(g, y->in[0], false);
    return 0;
}
static int ag__jvp_vmap_expand(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_x for every example */
    (void)op; *out = ag__vmap_expand(t[0], (uint32_t)y->ip[0], y->ip[2]); return 0;
}
/* the examples of t at level id as dim `dim` of a tensor without that level (a view; stride 0
   when t is the same for every example, size the batch size) */
static ag_tensor *ag__vmap_out(ag_tensor *t, uint32_t id, int dim, int64_t size) {
    int64_t sh[AG_MAX_DIMS], st[AG_MAX_DIMS];
    ag__vbatch *vb;
    ag_tensor *v;
    int i, j = 0, k;
    if (!t) return NULL;
    if (t->ndim >= AG_MAX_DIMS) { ag__fail(t->ctx, "vmap: an output with %d dims has no room for the batch dim", t->ndim); return NULL; }
    if ((k = ag__vb_find(t->vb, id)) < 0) return ag__vmap_out(ag__vmap_expand(t, id, size), id, dim, size);
    for (i = 0; i <= t->ndim; i++) {
        if (i == dim) { sh[i] = t->vb->size[k]; st[i] = t->vb->stride[k]; continue; }
        sh[i] = t->shape[j]; st[i] = t->stride[j++];
    }
    if (!(vb = (ag__vbatch *)ag__arena_alloc(t->ctx, sizeof *vb, 16)) || !(v = ag__view_of(t, t->ndim + 1, sh, st, 0))) return NULL;
    vb->n = 0;
    for (i = 0; i < t->vb->n; i++)
        if (i != k) { vb->id[vb->n] = t->vb->id[i]; vb->size[vb->n] = t->vb->size[i]; vb->stride[vb->n++] = t->vb->stride[i]; }
    v->vb = vb->n ? vb : NULL;
    v->ip[0] = id; v->ip[1] = dim; v->ip[2] = size;
    return ag__finish1(v, AG__OP_vmap_out, t);
}
static int ag__bw_vmap_in(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y's examples stacked at dim */
    gin[0] = ag__vmap_out(g, (uint32_t)y->ip[0], (int)y->ip[1], y->ip[2]);
    return 0;
}
static int ag__jvp_vmap_in(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_x's examples */
    (void)op; *out = ag__vmap_in(t[0], (uint32_t)y->ip[0], (int)y->ip[1]); return 0;
}
static int ag__bw_vmap_out(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y taken apart into examples */
    gin[0] = ag__vmap_in(g, (uint32_t)y->ip[0], (int)y->ip[1]);
    return 0;
}
static int ag__jvp_vmap_out(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_x's examples stacked */
    (void)op; *out = ag__vmap_out(t[0], (uint32_t)y->ip[0], (int)y->ip[1], y->ip[2]); return 0;
}
/* every example of a batched t, its levels in front: [levels of u..., t's dims] (for an op's own batching) */
static ag_tensor *ag__vmap_expose(ag_tensor *t, const ag__vbatch *u) {
    int k;
    for (k = u->n - 1; t && k >= 0; k--) t = ag__vmap_out(t, u->id[k], 0, u->size[k]);
    return t;
}
/* the inverse: the first u->n dims of p become u's levels */
static ag_tensor *ag__vmap_cover(ag_tensor *p, const ag__vbatch *u) {
    int k;
    for (k = 0; p && k < u->n; k++) p = ag__vmap_in(p, u->id[k], 0);
    return p;
}
/* g summed over its levels that t lacks and no running ag_vmap maps (all: every level t lacks):
   a gradient that reaches an unbatched tensor from outside the ag_vmap is the sum over the examples */
static ag_tensor *ag__vmap_settle(ag_tensor *g, const ag_tensor *t, bool all) {
    int k;
    while (g && g->vb) {
        for (k = 0; k < g->vb->n; k++)
            if (ag__vb_find(t->vb, g->vb->id[k]) < 0 && (all || !ag__vmap_running(g->ctx, g->vb->id[k]))) break;
        if (k == g->vb->n) break;
        g = ag_sum_dim(ag__vmap_out(g, g->vb->id[k], 0, g->vb->size[k]), 0, false);
    }
    return g;
}
/* for a check that reads every element of t (a divisor, class indices): all examples as one tensor */
static const ag_tensor *ag__vmap_all(const ag_tensor *t, ag_tensor *tmp, int64_t *sh, int64_t *st) {
    if (!t->vb || t->vb->n + t->ndim > AG_MAX_DIMS) return t;
    ag__vmap_whole(tmp, sh, st, t, t->vb, t->ndim, NULL);
    return tmp;
}

/* ==== >>iter: strided iteration ====
   Walks an N-d index space row by row for up to 3 operands with their own
   element strides (0 on broadcast dims); dims that are contiguous for every
   operand are merged so that contiguous data is one long row. */
typedef void (*ag__row_fn)(const void *k, int64_t n, char **p, const int64_t *s);
typedef struct {
    int ndim, nops;
    int64_t shape[AG_MAX_DIMS];
    int64_t st[3][AG_MAX_DIMS];
    char *base[3];
    size_t esz[3];
} ag__iter;

static void ag__iter_init(ag__iter *it, int ndim, const int64_t *shape) {   /* no memset: ag__iter_add fills each operand */
    int i;
    it->ndim = ndim;
    it->nops = 0;
    for (i = 0; i < ndim; i++) it->shape[i] = shape[i];
}
/* strides: ndim entries aligned with the iteration shape */
static void ag__iter_add(ag__iter *it, const void *base, int dtype_size, const int64_t *strides) {
    int k = it->nops++, i;
    it->base[k] = (char *)base;
    it->esz[k] = (size_t)dtype_size;
    for (i = 0; i < it->ndim; i++) it->st[k][i] = it->shape[i] == 1 ? 0 : strides[i];
}
/* strides of t broadcast (right-aligned) to an ndim-dim shape */
static void ag__bcast_strides(const ag_tensor *t, int ndim, int64_t *st) {
    int i, off = ndim - t->ndim;
    for (i = 0; i < ndim; i++) {
        int j = i - off;
        st[i] = (j < 0 || t->shape[j] == 1) ? 0 : t->stride[j];
    }
}
static void ag__iter_add_tensor(ag__iter *it, const ag_tensor *t) {
    int64_t st[AG_MAX_DIMS];   /* ag__bcast_strides writes the it->ndim entries read */
    ag__bcast_strides(t, it->ndim, st);
    ag__iter_add(it, t->data, (int)ag__esize(t->dtype), st);
}

static void ag__iter_run(ag__iter *it, ag__row_fn row, const void *k) {
    int64_t shape[AG_MAX_DIMS], st[3][AG_MAX_DIMS], idx[AG_MAX_DIMS], inner[3] = {0, 0, 0};
    char *p[3] = {NULL, NULL, NULL};   /* the operands past it->nops stay NULL and 0 (gcc -O3 and -Ofast cannot tell they are unread) */
    int nd = 0, i, o;
    for (i = 0; i < it->ndim; i++) if (it->shape[i] == 0) return;
    for (i = 0; i < it->ndim; i++) {       /* drop size-1 dims, merge contiguous neighbours */
        if (it->shape[i] == 1) continue;
        if (nd > 0) {
            bool merge = true;
            for (o = 0; o < it->nops; o++)
                if (st[o][nd - 1] != it->st[o][i] * it->shape[i]) merge = false;
            if (merge) {
                shape[nd - 1] *= it->shape[i];
                for (o = 0; o < it->nops; o++) st[o][nd - 1] = it->st[o][i];
                continue;
            }
        }
        shape[nd] = it->shape[i];
        for (o = 0; o < it->nops; o++) st[o][nd] = it->st[o][i];
        nd++;
    }
    if (nd == 0) {   /* a single element */
        for (o = 0; o < it->nops; o++) { p[o] = it->base[o]; inner[o] = 0; }
        row(k, 1, p, inner);
        return;
    }
    for (o = 0; o < it->nops; o++) inner[o] = st[o][nd - 1];
    for (i = 0; i < nd; i++) idx[i] = 0;
    for (;;) {
        for (o = 0; o < it->nops; o++) {
            int64_t off = 0;
            for (i = 0; i < nd - 1; i++) off += idx[i] * st[o][i];
            p[o] = it->base[o] + off * (int64_t)it->esz[o];
        }
        row(k, shape[nd - 1], p, inner);
        for (i = nd - 2; i >= 0; i--) {
            if (++idx[i] < shape[i]) break;
            idx[i] = 0;
        }
        if (i < 0) break;
    }
}

/* ==== >>half: F16 and BF16 storage ====
   A 16-bit tensor is stored in 2 bytes an element and computed in F32, as PyTorch does on the
   CPU: an op converts its 16-bit inputs to F32 (exactly), computes as for F32, and rounds its
   result to 16 bits once (to nearest, ties to even). What each op does with 16-bit inputs is
   the table in ag__half_policy (>>checks): it keeps the dtype (elementwise ops, sums and means,
   matmul, linear, views, copies), or computes in F32 and returns F32 (the ops that torch.autocast
   runs in float32: softmax, losses, norms ...), or says it has no 16-bit path.
   Conversions (bit for bit PyTorch's, tests/test_half.c checks all 65,536 patterns both ways):
       F16 -> F32   exact; a NaN becomes quiet with its payload kept
       F32 -> F16   nearest even, subnormals kept, |x| >= 65520 -> inf, NaN -> sign | 0x7E00
       BF16 -> F32  exact (the 16 bits are the float's top half)
       F32 -> BF16  nearest even, NaN -> sign | 0x7FC0 (PyTorch's vectorised copy gives 0xFFFF)
   Only integer operations: the results do not depend on compiler flags (-ffast-math, FTZ). The
   AVX2, AVX-512 and NEON sets convert 8, 16 and 4 at a time (F16C, FCVTL/FCVTN, integer shifts)
   with the same bits; WebAssembly's SIMD128 has no conversion and uses these. */
#define AG__HALF_BLOCK 256   /* elements of a 16-bit row converted at a time, on the stack */
typedef struct { int dst, src, isa; } ag__cvt;   /* a copy's dtypes and kernel set */
static float ag__bits_f32(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static uint32_t ag__f32_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static float ag__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) return ag__bits_f32(sign | 0x7f800000u | (m ? 0x400000u | (m << 13) : 0));   /* inf, quiet NaN */
    if (e == 0) {   /* zero or subnormal m 2^-24: normalise (k = the top bit of m) */
        int k = 9;
        if (!m) return ag__bits_f32(sign);
        while (!(m >> k)) k--;
        return ag__bits_f32(sign | (uint32_t)(k + 103) << 23 | ((m << (23 - k)) & 0x7fffff));
    }
    return ag__bits_f32(sign | (e + 112) << 23 | m << 13);   /* rebias 15 -> 127 */
}
static uint16_t ag__f32_to_f16(float f) {
    uint32_t u = ag__f32_bits(f), a = u & 0x7fffffff, h;
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);   /* 65520 and up round to inf */
    if (a < 0x38800000u) {   /* below 2^-14: a multiple of 2^-24, m 2^(e-126) of them */
        uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000, shift = 126 - e, q, rem, half;
        if (e == 0 || shift > 24) return sign;   /* below 2^-25 (or exactly: the tie goes to the even 0) */
        q = m >> shift; rem = m & ((1u << shift) - 1); half = 1u << (shift - 1);
        return (uint16_t)(sign | (q + (rem > half || (rem == half && (q & 1)))));
    }
    h = (a - 0x38000000u) >> 13;   /* rebias 127 -> 15; a carry out of the mantissa bumps the exponent */
    return (uint16_t)(sign | (h + ((a & 0x1fff) > 0x1000 || ((a & 0x1fff) == 0x1000 && (h & 1)))));
}
static float ag__bf16_to_f32(uint16_t h) { return ag__bits_f32((uint32_t)h << 16); }
static uint16_t ag__f32_to_bf16(float f) {
    uint32_t u = ag__f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000) | 0x7fc0);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
#ifdef AG__X86
AG__TARGET_AVX2 static void ag__avx2_from_half(int dtype, float *d, const uint16_t *s, int64_t n) {
    int64_t i = 0;
    if (dtype == AG_F16)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    else
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_si256((__m256i *)(d + i), _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + i))), 16));
    for (; i < n; i++) d[i] = dtype == AG_F16 ? ag__f16_to_f32(s[i]) : ag__bf16_to_f32(s[i]);
}
AG__TARGET_AVX2 static void ag__avx2_to_half(int dtype, uint16_t *d, const float *s, int64_t n) {
    int64_t i = 0, j;
    const __m256i lsb = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(s + i);
        if (dtype == AG_F16) _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        else {   /* (u + 0x7fff + bit 16 of u) >> 16, packed to 16 bits */
            __m256i u = _mm256_castps_si256(x);
            __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, bias), _mm256_and_si256(_mm256_srli_epi32(u, 16), lsb)), 16);
            r = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xd8);
            _mm_storeu_si128((__m128i *)(d + i), _mm256_castsi256_si128(r));
        }
        if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)))   /* NaN lanes: the canonical NaN */
            for (j = i; j < i + 8; j++) d[j] = dtype == AG_F16 ? ag__f32_to_f16(s[j]) : ag__f32_to_bf16(s[j]);
    }
    for (; i < n; i++) d[i] = dtype == AG_F16 ? ag__f32_to_f16(s[i]) : ag__f32_to_bf16(s[i]);
}
AG__TARGET_AVX512 static void ag__avx512_from_half(int dtype, float *d, const uint16_t *s, int64_t n) {
    int64_t i = 0;   /* the maskz forms: g++ 12 warns of the plain ones' undefined pass-through (-Wmaybe-uninitialized) */
    if (dtype == AG_F16)
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_maskz_cvtph_ps((__mmask16)0xffff, _mm256_loadu_si256((const __m256i *)(s + i))));
    else
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_si512((void *)(d + i), _mm512_maskz_slli_epi32((__mmask16)0xffff, _mm512_maskz_cvtepu16_epi32((__mmask16)0xffff, _mm256_loadu_si256((const __m256i *)(s + i))), 16));
    ag__avx2_from_half(dtype, d + i, s + i, n - i);
}
AG__TARGET_AVX512 static void ag__avx512_to_half(int dtype, uint16_t *d, const float *s, int64_t n) {
    int64_t i = 0, j;
    const __m512i lsb = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(s + i);
        if (dtype == AG_F16) _mm256_storeu_si256((__m256i *)(d + i), _mm512_maskz_cvtps_ph((__mmask16)0xffff, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        else {
            __m512i u = _mm512_castps_si512(x);
            __m512i r = _mm512_maskz_srli_epi32((__mmask16)0xffff, _mm512_add_epi32(_mm512_add_epi32(u, bias), _mm512_and_si512(_mm512_maskz_srli_epi32((__mmask16)0xffff, u, 16), lsb)), 16);
            _mm256_storeu_si256((__m256i *)(d + i), _mm512_maskz_cvtepi32_epi16((__mmask16)0xffff, r));
        }
        if (_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q))
            for (j = i; j < i + 16; j++) d[j] = dtype == AG_F16 ? ag__f32_to_f16(s[j]) : ag__f32_to_bf16(s[j]);
    }
    ag__avx2_to_half(dtype, d + i, s + i, n - i);
}
#endif
#ifdef AG__NEON
static void ag__neon_from_half(int dtype, float *d, const uint16_t *s, int64_t n) {
    int64_t i = 0;
    if (dtype == AG_F16)   /* FCVTL: exact, a signalling NaN made quiet with its payload (as ag__f16_to_f32) */
        for (; i + 4 <= n; i += 4) vst1q_f32(d + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(s + i))));
    else
        for (; i + 4 <= n; i += 4) vst1q_u32((uint32_t *)(void *)(d + i), vshll_n_u16(vld1_u16(s + i), 16));
    for (; i < n; i++) d[i] = dtype == AG_F16 ? ag__f16_to_f32(s[i]) : ag__bf16_to_f32(s[i]);
}
static void ag__neon_to_half(int dtype, uint16_t *d, const float *s, int64_t n) {
    int64_t i = 0, j;
    for (; i + 4 <= n; i += 4) {
        float32x4_t x = vld1q_f32(s + i);
        uint32x4_t u = vreinterpretq_u32_f32(x);
        if (dtype == AG_F16) vst1_u16(d + i, vreinterpret_u16_f16(vcvt_f16_f32(x)));   /* FCVTN: nearest even */
        else vst1_u16(d + i, vshrn_n_u32(vaddq_u32(vaddq_u32(u, vdupq_n_u32(0x7fff)), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1))), 16));
        if (vmaxvq_u32(vmvnq_u32(vceqq_f32(x, x))))   /* NaN lanes: the canonical NaN */
            for (j = i; j < i + 4; j++) d[j] = dtype == AG_F16 ? ag__f32_to_f16(s[j]) : ag__f32_to_bf16(s[j]);
    }
    for (; i < n; i++) d[i] = dtype == AG_F16 ? ag__f32_to_f16(s[i]) : ag__f32_to_bf16(s[i]);
}
#endif
/* d[i] = s[i] for n contiguous elements, 16-bit dtype -> F32 and back, with the context's kernel set */
static void ag__from_half(int isa, int dtype, float *d, const uint16_t *s, int64_t n) {
    int64_t i;
#ifdef AG__X86
    if (isa == AG__ISA_AVX512) { ag__avx512_from_half(dtype, d, s, n); return; }
    if (isa == AG__ISA_AVX2) { ag__avx2_from_half(dtype, d, s, n); return; }
#endif
#ifdef AG__NEON
    if (isa == AG__ISA_NEON) { ag__neon_from_half(dtype, d, s, n); return; }
#endif
    (void)isa;
    if (dtype == AG_F16) for (i = 0; i < n; i++) d[i] = ag__f16_to_f32(s[i]);
    else for (i = 0; i < n; i++) d[i] = ag__bf16_to_f32(s[i]);
}
static void ag__to_half(int isa, int dtype, uint16_t *d, const float *s, int64_t n) {
    int64_t i;
#ifdef AG__X86
    if (isa == AG__ISA_AVX512) { ag__avx512_to_half(dtype, d, s, n); return; }
    if (isa == AG__ISA_AVX2) { ag__avx2_to_half(dtype, d, s, n); return; }
#endif
#ifdef AG__NEON
    if (isa == AG__ISA_NEON) { ag__neon_to_half(dtype, d, s, n); return; }
#endif
    (void)isa;
    if (dtype == AG_F16) for (i = 0; i < n; i++) d[i] = ag__f32_to_f16(s[i]);
    else for (i = 0; i < n; i++) d[i] = ag__f32_to_bf16(s[i]);
}
/* one element of any dtype as a double, and back (a double goes to 16 bits through float, as PyTorch) */
static int64_t ag__get_int(int dtype, const char *p);
static void ag__set_int(int dtype, char *p, int64_t v);
static int64_t ag__to_int(int dtype, double v);
static double ag__get_as(int dtype, const char *p) {
    uint16_t h;
    if (dtype == AG_F32) return *(const float *)(const void *)p;
    if (dtype == AG_F64) return *(const double *)(const void *)p;
    if (AG__INT(dtype)) return (double)ag__get_int(dtype, p);
    memcpy(&h, p, 2);
    return dtype == AG_F16 ? ag__f16_to_f32(h) : ag__bf16_to_f32(h);
}
static void ag__set_as(int dtype, char *p, double v) {
    uint16_t h;
    if (dtype == AG_F32) { *(float *)(void *)p = (float)v; return; }
    if (dtype == AG_F64) { *(double *)(void *)p = v; return; }
    if (AG__INT(dtype)) { ag__set_int(dtype, p, ag__to_int(dtype, v)); return; }
    h = dtype == AG_F16 ? ag__f32_to_f16((float)v) : ag__f32_to_bf16((float)v);
    memcpy(p, &h, 2);
}
/* element off (in elements, through no strides) of t */
static double ag__load(const ag_tensor *t, int64_t off) { return ag__get_as(t->dtype, t->data + off * (int64_t)ag__esize(t->dtype)); }
static void ag__store(ag_tensor *t, int64_t off, double v) { ag__set_as(t->dtype, t->data + off * (int64_t)ag__esize(t->dtype), v); }

/* ==== >>int: I32, I64 and BOOL ====
   Integer and boolean tensors hold labels, indices and masks. They never require grad. What
   each op does with them is the table in ag__int_policy (>>optable): integer arithmetic
   (add, sub, mul, maximum, minimum, floor_divide, remainder, fmod, neg, abs, sign, sum),
   comparisons, logic, where, masked_fill, one_hot, views and copies take them as they are;
   every other op computes on an F32 copy and returns F32 (as PyTorch promotes an integer
   input of a floating-point op to its default dtype). Arithmetic is done in 64 bits and wraps
   like two's complement (I32 keeps the low 32 bits, as PyTorch); dividing an integer by zero
   is an error. Conversions as PyTorch on x86: a float to an integer rounds toward zero, and
   NaN or out of range gives the type's minimum; to BOOL, non-zero (NaN too) is true; an I64
   to F32 rounds once. ag_get and ag_item give doubles (exact below 2^53); ag_copy_out to
   AG_I64 is exact. */
static int64_t ag__get_int(int dtype, const char *p) {
    int32_t i32;
    int64_t i64;
    if (dtype == AG_BOOL) return *(const unsigned char *)p != 0;
    if (dtype == AG_I32) { memcpy(&i32, p, 4); return i32; }
    memcpy(&i64, p, 8);
    return i64;
}
static void ag__set_int(int dtype, char *p, int64_t v) {
    if (dtype == AG_BOOL) { *(unsigned char *)p = v != 0; return; }
    if (dtype == AG_I32) { int32_t i32 = (int32_t)(uint32_t)(uint64_t)v; memcpy(p, &i32, 4); return; }   /* the low 32 bits */
    memcpy(p, &v, 8);
}
/* a double as the integer dtype: toward zero; NaN and out of range: the minimum (x86's answer, PyTorch's) */
static int64_t ag__to_int(int dtype, double v) {
    if (dtype == AG_BOOL) return v != 0 || ag__isnan(v);
    if (dtype == AG_I32) return ag__isnan(v) || !(v > -2147483649.0 && v < 2147483648.0) ? INT32_MIN : (int64_t)v;
    return ag__isnan(v) || !(v >= -9223372036854775808.0 && v < 9223372036854775808.0) ? INT64_MIN : (int64_t)v;
}
/* the dtype PyTorch gives a and b together (both with dims, or both 0-d): the higher category
   (bool < integer < floating point), within one the wider; F16 with BF16 is F32 */
static int ag__category(int d) { return d == AG_BOOL ? 0 : AG__INT(d) ? 1 : 2; }
static int ag__promote_types(int a, int b) {
    int ca = ag__category(a), cb = ag__category(b);
    if (a == b) return a;
    if (ca != cb) return ca > cb ? a : b;
    if (ca == 1) return AG_I64;
    if (a == AG_F64 || b == AG_F64) return AG_F64;
    return AG_F32;   /* F16 and BF16, or either with F32 */
}
/* a copy with an integer side, element by element: integers exactly, floats through double
   (an integer to F32 directly, so that it rounds once) */
static void ag__copy_row_int(const void *kp, int64_t n, char **p, const int64_t *s) {
    const ag__cvt *c = (const ag__cvt *)kp;
    int64_t i, ed = (int64_t)ag__esize(c->dst), es = (int64_t)ag__esize(c->src);
    for (i = 0; i < n; i++) {
        char *d = p[0] + i * s[0] * ed;
        const char *q = p[1] + i * s[1] * es;
        if (AG__INT(c->src) && AG__INT(c->dst)) ag__set_int(c->dst, d, ag__get_int(c->src, q));
        else if (AG__INT(c->src)) {
            int64_t v = ag__get_int(c->src, q);
            if (c->dst == AG_F64) ag__set_as(AG_F64, d, (double)v);
            else { float f = (float)v; ag__set_as(c->dst, d, f); }   /* F32, F16, BF16: through one float rounding */
        } else ag__set_int(c->dst, d, ag__to_int(c->dst, ag__get_as(c->src, q)));
    }
}

/* the integer kernels: y = op(a, b) or op(a) over operands of dtype k->dt (BOOL results for
   comparisons and logic), wrapping in 64 bits; floor_divide and remainder as Python's */
typedef struct { int op, dt, dy; } ag__ik;
static int64_t ag__floordiv_i(int64_t a, int64_t b) {
    int64_t q;
    if (a == INT64_MIN && b == -1) return INT64_MIN;   /* wraps, as two's complement */
    q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static int64_t ag__remainder_i(int64_t a, int64_t b) {
    int64_t r;
    if (b == -1) return 0;
    r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
static void ag__int_row(const void *kp, int64_t n, char **p, const int64_t *s);
/* floor(a / b) as PyTorch's floating floor_divide computes it (exact where a / b rounds up to an integer) */
static double ag__div_floor(double a, double b) {
    double mod, div, fl;
    if (b == 0) return a / b;
    mod = fmod(a, b);
    div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
    if (div == 0) return copysign(0.0, a / b);
    fl = floor(div);
    return div - fl > 0.5 ? fl + 1 : fl;
}
static bool ag__truth(double v) { return v != 0 || ag__isnan(v); }
/* the comparisons and logic on floats, NaN by its bits (so -ffast-math builds agree) */
static int64_t ag__pred_f(int op, double a, double b) {
    bool na = ag__isnan(a), nb = ag__isnan(b);
    switch (op) {
    case AG__OP_eq: return !na && !nb && a == b;
    case AG__OP_ne: return na || nb || a != b;
    case AG__OP_lt: return !na && !nb && a < b;
    case AG__OP_le: return !na && !nb && a <= b;
    case AG__OP_gt: return !na && !nb && a > b;
    case AG__OP_ge: return !na && !nb && a >= b;
    case AG__OP_logical_and: return ag__truth(a) && ag__truth(b);
    case AG__OP_logical_or: return ag__truth(a) || ag__truth(b);
    case AG__OP_logical_xor: return ag__truth(a) != ag__truth(b);
    case AG__OP_logical_not: return !ag__truth(a);
    case AG__OP_isnan: return na;
    case AG__OP_isinf: return !na && fabs(a) > DBL_MAX;
    case AG__OP_isfinite: return !na && fabs(a) <= DBL_MAX;
    default: return 0;
    }
}
/* the integer ops, in 64 bits (unsigned where C's signed overflow would be undefined); a zero
   divisor gives 0 here (the public functions refuse it first; a replay cannot stop) */
static int64_t ag__op_i(int op, int64_t a, int64_t b) {
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    switch (op) {
    case AG__OP_add: return (int64_t)(ua + ub);
    case AG__OP_sub: return (int64_t)(ua - ub);
    case AG__OP_mul: return (int64_t)(ua * ub);
    case AG__OP_maximum: return a > b ? a : b;
    case AG__OP_minimum: return a < b ? a : b;
    case AG__OP_floor_divide: return b ? ag__floordiv_i(a, b) : 0;
    case AG__OP_remainder: return b ? ag__remainder_i(a, b) : 0;
    case AG__OP_fmod: return b && b != -1 ? a % b : 0;
    case AG__OP_neg: return (int64_t)(0 - ua);
    case AG__OP_abs: return a < 0 ? (int64_t)(0 - ua) : a;
    case AG__OP_sign: return (a > 0) - (a < 0);
    case AG__OP_eq: return a == b;
    case AG__OP_ne: return a != b;
    case AG__OP_lt: return a < b;
    case AG__OP_le: return a <= b;
    case AG__OP_gt: return a > b;
    case AG__OP_ge: return a >= b;
    case AG__OP_logical_and: return a && b;
    case AG__OP_logical_or: return a || b;
    case AG__OP_logical_xor: return !a != !b;
    case AG__OP_logical_not: return !a;
    case AG__OP_isnan: case AG__OP_isinf: return 0;
    case AG__OP_isfinite: return 1;
    default: return 0;
    }
}
static void ag__int_row(const void *kp, int64_t n, char **p, const int64_t *s) {
    const ag__ik *k = (const ag__ik *)kp;
    int64_t i, ey = (int64_t)ag__esize(k->dy), ea = (int64_t)ag__esize(k->dt);
    bool fl = !AG__INT(k->dt);
    for (i = 0; i < n; i++) {
        const char *qa = p[1] + i * s[1] * ea, *qb = p[2] ? p[2] + i * s[2] * ea : NULL;
        char *d = p[0] + i * s[0] * ey;
        if (!fl) ag__set_int(k->dy, d, ag__op_i(k->op, ag__get_int(k->dt, qa), qb ? ag__get_int(k->dt, qb) : 0));
        else if (k->op == AG__OP_floor_divide) ag__set_as(k->dy, d, ag__div_floor(ag__get_as(k->dt, qa), ag__get_as(k->dt, qb)));
        else ag__set_int(k->dy, d, ag__pred_f(k->op, ag__get_as(k->dt, qa), qb ? ag__get_as(k->dt, qb) : 0));
    }
}
/* y = op(a, b) (b NULL: op(a)) with the integer kernels, a and b of one dtype, broadcast to y */
static void ag__map_run(ag__row_fn row, const void *k, ag_tensor *y, const ag_tensor *a, const ag_tensor *b);
static void ag__int_run(int op, ag_tensor *y, const ag_tensor *a, const ag_tensor *b) {
    ag__ik k;
    k.op = op; k.dt = a->dtype; k.dy = y->dtype;
    ag__map_run(ag__int_row, &k, y, a, b);
}
static bool ag__rerun_int(int op, ag_tensor *y) { ag__int_run(op, y, y->in[0], y->nin > 1 ? y->in[1] : NULL); return true; }
/* the ops with integer kernels: these keep an integer dtype, every other promotes it to F32 */
static bool ag__int_op(int op) {
    return op == AG__OP_add || op == AG__OP_sub || op == AG__OP_mul || op == AG__OP_maximum || op == AG__OP_minimum ||
           op == AG__OP_floor_divide || op == AG__OP_remainder || op == AG__OP_fmod || op == AG__OP_neg || op == AG__OP_abs ||
           op == AG__OP_sign;
}

/* ==== >>kernels ====
   Each kernel is written once for a type T and instantiated for F32 (libm
   suffix f) and F64. Scalar loops; the compiler vectorises the contiguous ones. */
typedef struct ag__kern {
    int op; double a, b; int isa;
    /* a row of 16-bit operands (ag__half_row): the F32 row it runs, the 16-bit dtype, which
       operands are 16-bit (bit o), how many operands, and operand 0's element size if it is not */
    void (*inner)(const void *k, int64_t n, char **p, const int64_t *s);
    int half, nops;
    unsigned hmask;
    size_t esz0;
} ag__kern;
/* A row of an elementwise op or reduction whose operands are 16-bit: blocks of AG__HALF_BLOCK
   elements of each 16-bit operand are converted to F32 on the stack, the op's F32 row runs on
   the blocks, and operand 0's block (the result) is rounded back: loads 16 bits, computes F32,
   stores 16 bits, with no copy of the tensors. Operand 0 is written only; an operand not in
   hmask (a reduction's accumulators) is passed through. */
static void ag__half_row(const void *kp, int64_t n, char **p, const int64_t *s) {
    const ag__kern *k = (const ag__kern *)kp;
    float buf[3][AG__HALF_BLOCK];
    uint16_t hb[AG__HALF_BLOCK];   /* a strided operand's 16 bits, gathered (or scattered) for the vector conversion */
    char *q[3];
    int64_t st[3], i0, m, j;
    int o;
    q[0] = q[1] = q[2] = NULL; st[0] = st[1] = st[2] = 0;
    for (i0 = 0; i0 < n; i0 += m) {
        m = n - i0 < AG__HALF_BLOCK ? n - i0 : AG__HALF_BLOCK;
        for (o = 0; o < k->nops; o++) {
            const uint16_t *h = (const uint16_t *)(const void *)p[o] + i0 * s[o];
            if (!((k->hmask >> o) & 1)) { q[o] = p[o] + i0 * s[o] * (int64_t)k->esz0; st[o] = s[o]; continue; }
            q[o] = (char *)buf[o]; st[o] = s[o] != 0;
            if (o == 0) continue;
            if (s[o] == 1) ag__from_half(k->isa, k->half, buf[o], h, m);
            else if (s[o] == 0) ag__from_half(k->isa, k->half, buf[o], h, 1);
            else { for (j = 0; j < m; j++) hb[j] = h[j * s[o]]; ag__from_half(k->isa, k->half, buf[o], hb, m); }
        }
        k->inner(k, m, q, st);
        if (k->hmask & 1) {
            uint16_t *h = (uint16_t *)(void *)p[0] + i0 * s[0];
            if (s[0] == 1) ag__to_half(k->isa, k->half, h, buf[0], m);
            else { ag__to_half(k->isa, k->half, hb, buf[0], m); for (j = 0; j < m; j++) h[j * s[0]] = hb[j]; }
        }
    }
}
/* ag__half_row running f32 on the operands in hmask (nops operands; operand 0 of element size esz0 if not) */
static ag__row_fn ag__half_rows(ag__kern *k, int dt, ag__row_fn f32, int nops, unsigned hmask, size_t esz0) {
    k->inner = f32; k->half = dt; k->nops = nops; k->hmask = hmask; k->esz0 = esz0;
    return ag__half_row;
}
/* the row for operands of dtype dt: the F32 or F64 kernel, or for a 16-bit dtype the F32 one in ag__half_row */
#define AG__ROW_FOR(k, dt, f32, f64, nops, hmask, esz0) \
    (AG__HALF(dt) ? ag__half_rows((k), (dt), (f32), (nops), (hmask), (esz0)) : AG__PICK((dt), (f32), (f64)))

/* ==== >>simd: the kernel sets, one vocabulary of primitives each ====
   Every set defines the same primitives under its own prefix P; the SIMD kernels are written
   once against them (stb_image_resize2 does the same with its stbir__simdf_*):
       F32: ag__avx2_  ag__avx512_  ag__neon_  ag__simd128_   ag__sf_ (scalar, W = 1)
       F64: ag__avx2d_ ag__avx512d_ ag__neond_ ag__simd128d_  ag__sd_ (scalar, W = 1)
   V is the set's vector type, M its mask type, W its lanes.
       P##set(x) P##zero() P##loadu(p) P##storeu(p, v)            (unaligned)
       P##add(a, b) P##sub P##mul P##div P##sqrt(a) P##neg(a)
       P##madd(a, b, c) = a b + c the set's fastest way: one FMA where there is one (the GEMM's step)
       P##fma(a, b, c) = a b + c rounded once (F32 only where the set has no FMA instruction)
       P##max(a, b) = a > b ? a : b,  P##min(a, b) = a < b ? a : b (exactly: a NaN gives b)
       P##gt(a, b) P##lt P##eq P##ge -> M,  P##sel(m, a, b) = m ? a : b
   and for the F32 vector math only (>>vmath): P##fnma(a, b, c) = c - a b, P##abs,
   P##copysign, P##rint, P##load_part, P##store_part, P##pow2, P##log_split.
   Single instructions are macros, so a kernel compiled for a narrower target (or with
   AG__EXACT) can use them too.
   The kernels written against it, with their generated names (<t> = f32 or f64):
       ag__vbinary_<t>_<set>, ag__vunary_<t>_<set>   the elementwise fast paths   (avx2 avx512 neon)
       ag__v_<fn>_f32_<set>, ag__vmath_table_<set>    vector exp log tanh sigmoid gelu_tanh silu
       ag__uk_<t>_<set>                               the GEMM micro-kernel (>>gemm)
       ag__sgd_<t>_<set>, ag__adam_<t>_<set>          optimizer updates (>>optim; scalar too)
       ag__vpool2_<t>_<set>                           max_pool2d's 2 x 2 windows (>>ops, argmax)
   ADDING A KERNEL SET: one block of these primitives for F32 and F64 with its target attribute,
   its rows in AG__SIMD_SETS (below the blocks), an AG__ISA_ entry (>>dispatch) with its
   detection, and a case in each dispatch (grep AG__ISA_SIMD128: WebAssembly was added so). */

/* the per-vector functions must inline into the row loops (a call passes
   vectors through memory); GCC does not always do it by itself */
#if defined(__GNUC__) || defined(__clang__)
#define AG__VM_INLINE inline __attribute__((always_inline))
#define AG__VM_UNUSED __attribute__((unused))    /* a build that never calls a table: no warning */
#elif defined(_MSC_VER)
#define AG__VM_INLINE __forceinline
#define AG__VM_UNUSED
#else
#define AG__VM_INLINE inline
#define AG__VM_UNUSED
#endif
/* Kernels whose bits must not depend on the kernel set, compiler or flags (the optimizer
   updates, and the elementwise row kernels, whose fused backward formulas must round as the
   same formula built from ops): gcc may fuse a*b + c into one FMA in GNU modes
   (-ffp-contract=fast), which would make one path round differently from another. This turns
   it off for gcc; for clang the implementation sets #pragma STDC FP_CONTRACT OFF. */
#if defined(__GNUC__) && !defined(__clang__)
#define AG__EXACT __attribute__((optimize("fp-contract=off")))
#else
#define AG__EXACT
#endif

/* ---- scalar: the portable set, one lane ---- */
#define ag__sf_set(x) ((float)(x))
#define ag__sf_loadu(p) (*(p))
#define ag__sf_storeu(p, v) (*(p) = (v))
#define ag__sf_add(a, b) ((a) + (b))
#define ag__sf_mul(a, b) ((a) * (b))
#define ag__sf_div(a, b) ((a) / (b))
#define ag__sf_sqrt(a) sqrtf(a)
#define ag__sf_max(a, b) ((a) > (b) ? (a) : (b))
#define ag__sd_set(x) ((double)(x))
#define ag__sd_loadu(p) (*(p))
#define ag__sd_storeu(p, v) (*(p) = (v))
#define ag__sd_add(a, b) ((a) + (b))
#define ag__sd_mul(a, b) ((a) * (b))
#define ag__sd_div(a, b) ((a) / (b))
#define ag__sd_sqrt(a) sqrt(a)
#define ag__sd_max(a, b) ((a) > (b) ? (a) : (b))

/* ag__fmaf: fma for the scalar set, the compiler's where the target has the instruction
   (__FP_FAST_FMAF), else ag__fmaf_soft. C99 promises an exact fmaf, but C libraries do not all
   keep the promise (mingw-w64's rounds twice) and some emulate it slowly.
   ag__fmaf_soft: fmaf(a, b, c) rounded once, from double arithmetic: a b is exact in double (24 + 24 bits),
   s = a b + c rounds once and TwoSum gives that rounding's error. Rounding s to float is then
   right unless s sits exactly on a tie between two floats (no tie lies between s and the true
   sum, or it would be a nearer double); there the error says which side the true sum is on,
   and s moves one double ulp that way. Below 2^-126 float's last bit is 2^-149, so the tie
   sits further down in s. Needs IEEE double rounded to nearest (FLT_EVAL_METHOD 0, checked above). */
static AG__VM_UNUSED float ag__fmaf_soft(float a, float b, float c) {
    double p = (double)a * (double)b, s = p + (double)c, v = s - p;
    double err = (p - (s - v)) + ((double)c - v);      /* p + c = s + err exactly */
    uint64_t u, mant;
    int e, drop;
    memcpy(&u, &s, 8);
    e = (int)(u >> 52 & 0x7ff);
    drop = e >= 1023 - 126 ? 29 : 1023 - 97 - e;      /* bits of s below float's last bit */
    mant = (u & 0xfffffffffffffull) | (uint64_t)(e != 0) << 52;
    if (e != 0x7ff && err != 0 && drop <= 53 && (mant & ((1ull << drop) - 1)) == 1ull << (drop - 1)) {
        u += (err > 0) == (s > 0) ? 1 : (uint64_t)-1;  /* away from the tie, toward the true sum */
        memcpy(&s, &u, 8);
    }
    return (float)s;
}
#if defined(__FP_FAST_FMAF)
#define ag__fmaf(a, b, c) fmaf(a, b, c)
#else
#define ag__fmaf(a, b, c) ag__fmaf_soft(a, b, c)
#endif
/* load_part / store_part (the first m < W floats) for a set without masked loads and stores:
   through a zero-padded copy on the stack */
#define AG__PART_VIA_STACK(P, V, W, TGT) \
static inline TGT V P##load_part(const float *p, int64_t m) { \
    float b[W] = {0}; memcpy(b, p, (size_t)m * sizeof(float)); return P##loadu(b); \
} \
static inline TGT void P##store_part(float *p, V v, int64_t m) { \
    float b[W]; P##storeu(b, v); memcpy(p, b, (size_t)m * sizeof(float)); \
}

#if defined(AG__X86)
/* ---- AVX2 + FMA: 8 floats, 4 doubles ---- */
#define ag__avx2_set(x) _mm256_set1_ps(x)
#define ag__avx2_zero() _mm256_setzero_ps()
#define ag__avx2_loadu(p) _mm256_loadu_ps(p)
#define ag__avx2_storeu(p, v) _mm256_storeu_ps(p, v)
#define ag__avx2_add(a, b) _mm256_add_ps(a, b)
#define ag__avx2_sub(a, b) _mm256_sub_ps(a, b)
#define ag__avx2_mul(a, b) _mm256_mul_ps(a, b)
#define ag__avx2_div(a, b) _mm256_div_ps(a, b)
#define ag__avx2_sqrt(a) _mm256_sqrt_ps(a)
#define ag__avx2_fma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ag__avx2_madd(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ag__avx2_fnma(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define ag__avx2_neg(a) _mm256_xor_ps(a, _mm256_set1_ps(-0.0f))
#define ag__avx2_abs(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a)
#define ag__avx2_max(a, b) _mm256_max_ps(a, b)   /* the second operand where unordered or equal */
#define ag__avx2_min(a, b) _mm256_min_ps(a, b)
#define ag__avx2_gt(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define ag__avx2_lt(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define ag__avx2_eq(a, b) _mm256_cmp_ps(a, b, _CMP_EQ_OQ)
#define ag__avx2_ge(a, b) _mm256_cmp_ps(a, b, _CMP_GE_OQ)
#define ag__avx2_sel(m, a, b) _mm256_blendv_ps(b, a, m)
#define ag__avx2_rint(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define ag__avx2d_set(x) _mm256_set1_pd(x)
#define ag__avx2d_zero() _mm256_setzero_pd()
#define ag__avx2d_loadu(p) _mm256_loadu_pd(p)
#define ag__avx2d_storeu(p, v) _mm256_storeu_pd(p, v)
#define ag__avx2d_add(a, b) _mm256_add_pd(a, b)
#define ag__avx2d_sub(a, b) _mm256_sub_pd(a, b)
#define ag__avx2d_mul(a, b) _mm256_mul_pd(a, b)
#define ag__avx2d_div(a, b) _mm256_div_pd(a, b)
#define ag__avx2d_sqrt(a) _mm256_sqrt_pd(a)
#define ag__avx2d_madd(a, b, c) _mm256_fmadd_pd(a, b, c)
#define ag__avx2d_neg(a) _mm256_xor_pd(a, _mm256_set1_pd(-0.0))
#define ag__avx2d_max(a, b) _mm256_max_pd(a, b)
#define ag__avx2d_min(a, b) _mm256_min_pd(a, b)
#define ag__avx2d_gt(a, b) _mm256_cmp_pd(a, b, _CMP_GT_OQ)
#define ag__avx2d_lt(a, b) _mm256_cmp_pd(a, b, _CMP_LT_OQ)
#define ag__avx2d_ge(a, b) _mm256_cmp_pd(a, b, _CMP_GE_OQ)
#define ag__avx2d_sel(m, a, b) _mm256_blendv_pd(b, a, m)
#define AG__T AG__TARGET_AVX2
/* load_part / store_part: the first m < 8 floats (4 doubles) through a lane mask (the lanes below m;
   the others are neither read nor written, and load as 0) */
static inline AG__T __m256i ag__avx2_lanes(int64_t m) { return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
static inline AG__T __m256 ag__avx2_load_part(const float *p, int64_t m) { return _mm256_maskload_ps(p, ag__avx2_lanes(m)); }
static inline AG__T void ag__avx2_store_part(float *p, __m256 v, int64_t m) { _mm256_maskstore_ps(p, ag__avx2_lanes(m), v); }
#ifndef AG_NO_F64
static inline AG__T __m256i ag__avx2d_lanes(int64_t m) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(m), _mm256_setr_epi64x(0, 1, 2, 3)); }
static inline AG__T __m256d ag__avx2d_load_part(const double *p, int64_t m) { return _mm256_maskload_pd(p, ag__avx2d_lanes(m)); }
static inline AG__T void ag__avx2d_store_part(double *p, __m256d v, int64_t m) { _mm256_maskstore_pd(p, ag__avx2d_lanes(m), v); }
#endif
static inline AG__T __m256 ag__avx2_copysign(__m256 m, __m256 s) {
    return _mm256_or_ps(m, _mm256_and_ps(s, _mm256_set1_ps(-0.0f)));   /* m >= 0 */
}
static inline AG__T void ag__avx2_pow2(__m256 k, __m256 *s1, __m256 *s2) {
    __m256i ki = _mm256_cvttps_epi32(k), k1 = _mm256_srai_epi32(ki, 1), k2 = _mm256_sub_epi32(ki, k1);
    __m256i b = _mm256_set1_epi32(127);
    *s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, b), 23));
    *s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, b), 23));
}
static inline AG__T void ag__avx2_log_split(__m256 x, __m256 *f, __m256 *e) {
    __m256i ix = _mm256_castps_si256(x);
    __m256i ei = _mm256_srai_epi32(_mm256_sub_epi32(ix, _mm256_set1_epi32(0x3f3504f3)), 23);
    __m256 m = _mm256_castsi256_ps(_mm256_sub_epi32(ix, _mm256_slli_epi32(ei, 23)));
    *f = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
    *e = _mm256_cvtepi32_ps(ei);
}
#undef AG__T

/* ---- AVX-512F: 16 floats, 8 doubles (AVX-512F instructions only) ----
   The masked forms with an all-ones mask where the plain one is built on _mm512_undefined_*,
   which g++ 12 -Wuninitialized flags. */
#define AG__K16 ((__mmask16)0xffff)
#define AG__K8 ((__mmask8)0xff)
#define ag__avx512_set(x) _mm512_set1_ps(x)
#define ag__avx512_zero() _mm512_setzero_ps()
#define ag__avx512_loadu(p) _mm512_loadu_ps(p)
#define ag__avx512_storeu(p, v) _mm512_storeu_ps(p, v)
#define ag__avx512_add(a, b) _mm512_add_ps(a, b)
#define ag__avx512_sub(a, b) _mm512_sub_ps(a, b)
#define ag__avx512_mul(a, b) _mm512_mul_ps(a, b)
#define ag__avx512_div(a, b) _mm512_div_ps(a, b)
#define ag__avx512_sqrt(a) _mm512_mask_sqrt_ps(a, AG__K16, a)
#define ag__avx512_fma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ag__avx512_madd(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ag__avx512_fnma(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define ag__avx512_neg(a) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u)))
#define ag__avx512_abs(a) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff)))
#define ag__avx512_max(a, b) _mm512_mask_max_ps(b, AG__K16, a, b)   /* the second operand where unordered or equal */
#define ag__avx512_min(a, b) _mm512_mask_min_ps(b, AG__K16, a, b)
#define ag__avx512_gt(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define ag__avx512_lt(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define ag__avx512_eq(a, b) _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)
#define ag__avx512_ge(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)
#define ag__avx512_sel(m, a, b) _mm512_mask_blend_ps(m, b, a)
#define ag__avx512_rint(a) _mm512_mask_roundscale_ps(a, AG__K16, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define ag__avx512d_set(x) _mm512_set1_pd(x)
#define ag__avx512d_zero() _mm512_setzero_pd()
#define ag__avx512d_loadu(p) _mm512_loadu_pd(p)
#define ag__avx512d_storeu(p, v) _mm512_storeu_pd(p, v)
#define ag__avx512d_add(a, b) _mm512_add_pd(a, b)
#define ag__avx512d_sub(a, b) _mm512_sub_pd(a, b)
#define ag__avx512d_mul(a, b) _mm512_mul_pd(a, b)
#define ag__avx512d_div(a, b) _mm512_div_pd(a, b)
#define ag__avx512d_sqrt(a) _mm512_mask_sqrt_pd(a, AG__K8, a)
#define ag__avx512d_madd(a, b, c) _mm512_fmadd_pd(a, b, c)
#define ag__avx512d_neg(a) _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a), _mm512_set1_epi64((long long)0x8000000000000000ull)))
#define ag__avx512d_max(a, b) _mm512_mask_max_pd(b, AG__K8, a, b)
#define ag__avx512d_min(a, b) _mm512_mask_min_pd(b, AG__K8, a, b)
#define ag__avx512d_gt(a, b) _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ)
#define ag__avx512d_lt(a, b) _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ)
#define ag__avx512d_ge(a, b) _mm512_cmp_pd_mask(a, b, _CMP_GE_OQ)
#define ag__avx512d_sel(m, a, b) _mm512_mask_blend_pd(m, b, a)
#define ag__avx512d_load_part(p, m) _mm512_maskz_loadu_pd((__mmask8)((1u << (m)) - 1u), p)   /* the first m < 8 */
#define ag__avx512d_store_part(p, v, m) _mm512_mask_storeu_pd(p, (__mmask8)((1u << (m)) - 1u), v)
#define AG__T AG__TARGET_AVX512
static inline AG__T __m512 ag__avx512_load_part(const float *p, int64_t m) {
    return _mm512_maskz_loadu_ps((__mmask16)((1u << m) - 1u), p);
}
static inline AG__T void ag__avx512_store_part(float *p, __m512 v, int64_t m) {
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << m) - 1u), v);
}
static inline AG__T __m512 ag__avx512_copysign(__m512 m, __m512 s) {
    __m512i sb = _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(m), sb));
}
static inline AG__T void ag__avx512_pow2(__m512 k, __m512 *s1, __m512 *s2) {
    __m512i b = _mm512_set1_epi32(127);
    __m512i ki = _mm512_mask_cvttps_epi32(b, AG__K16, k), k1 = _mm512_mask_srai_epi32(b, AG__K16, ki, 1);
    __m512i k2 = _mm512_sub_epi32(ki, k1);
    *s1 = _mm512_castsi512_ps(_mm512_mask_slli_epi32(b, AG__K16, _mm512_add_epi32(k1, b), 23));
    *s2 = _mm512_castsi512_ps(_mm512_mask_slli_epi32(b, AG__K16, _mm512_add_epi32(k2, b), 23));
}
static inline AG__T void ag__avx512_log_split(__m512 x, __m512 *f, __m512 *e) {
    __m512i ix = _mm512_castps_si512(x);
    __m512i ei = _mm512_mask_srai_epi32(ix, AG__K16, _mm512_sub_epi32(ix, _mm512_set1_epi32(0x3f3504f3)), 23);
    __m512 m = _mm512_castsi512_ps(_mm512_sub_epi32(ix, _mm512_mask_slli_epi32(ix, AG__K16, ei, 23)));
    *f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    *e = _mm512_mask_cvtepi32_ps(*f, AG__K16, ei);
}
#undef AG__T
#endif /* AG__X86 */

#ifdef AG__NEON
/* ---- NEON (AArch64): 4 floats, 2 doubles ---- */
#define ag__neon_set(x) vdupq_n_f32(x)
#define ag__neon_zero() vdupq_n_f32(0.0f)
#define ag__neon_loadu(p) vld1q_f32(p)
#define ag__neon_storeu(p, v) vst1q_f32(p, v)
#define ag__neon_add(a, b) vaddq_f32(a, b)
#define ag__neon_sub(a, b) vsubq_f32(a, b)
#define ag__neon_mul(a, b) vmulq_f32(a, b)
#define ag__neon_div(a, b) vdivq_f32(a, b)
#define ag__neon_sqrt(a) vsqrtq_f32(a)
#define ag__neon_fma(a, b, c) vfmaq_f32(c, a, b)
#define ag__neon_madd(a, b, c) vfmaq_f32(c, a, b)
#define ag__neon_fnma(a, b, c) vfmsq_f32(c, a, b)
#define ag__neon_neg(a) vnegq_f32(a)
#define ag__neon_abs(a) vabsq_f32(a)
#define ag__neon_max(a, b) vbslq_f32(vcgtq_f32(a, b), a, b)   /* not vmaxq, which gives NaN for either NaN */
#define ag__neon_min(a, b) vbslq_f32(vcltq_f32(a, b), a, b)
#define ag__neon_gt(a, b) vcgtq_f32(a, b)
#define ag__neon_lt(a, b) vcltq_f32(a, b)
#define ag__neon_eq(a, b) vceqq_f32(a, b)
#define ag__neon_ge(a, b) vcgeq_f32(a, b)
#define ag__neon_sel(m, a, b) vbslq_f32(m, a, b)
#define ag__neon_rint(a) vrndnq_f32(a)
#define ag__neon_copysign(m, s) vbslq_f32(vdupq_n_u32(0x80000000u), s, m)
#define ag__neond_set(x) vdupq_n_f64(x)
#define ag__neond_zero() vdupq_n_f64(0.0)
#define ag__neond_loadu(p) vld1q_f64(p)
#define ag__neond_storeu(p, v) vst1q_f64(p, v)
#define ag__neond_add(a, b) vaddq_f64(a, b)
#define ag__neond_sub(a, b) vsubq_f64(a, b)
#define ag__neond_mul(a, b) vmulq_f64(a, b)
#define ag__neond_div(a, b) vdivq_f64(a, b)
#define ag__neond_sqrt(a) vsqrtq_f64(a)
#define ag__neond_madd(a, b, c) vfmaq_f64(c, a, b)
#define ag__neond_neg(a) vnegq_f64(a)
#define ag__neond_max(a, b) vbslq_f64(vcgtq_f64(a, b), a, b)
#define ag__neond_min(a, b) vbslq_f64(vcltq_f64(a, b), a, b)
#define ag__neond_gt(a, b) vcgtq_f64(a, b)
#define ag__neond_lt(a, b) vcltq_f64(a, b)
#define ag__neond_ge(a, b) vcgeq_f64(a, b)
#define ag__neond_sel(m, a, b) vbslq_f64(m, a, b)
AG__PART_VIA_STACK(ag__neon_, float32x4_t, 4, )
static inline void ag__neon_pow2(float32x4_t k, float32x4_t *s1, float32x4_t *s2) {
    int32x4_t ki = vcvtq_s32_f32(k), k1 = vshrq_n_s32(ki, 1), k2 = vsubq_s32(ki, k1);
    int32x4_t b = vdupq_n_s32(127);
    *s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(k1, b), 23));
    *s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(k2, b), 23));
}
static inline void ag__neon_log_split(float32x4_t x, float32x4_t *f, float32x4_t *e) {
    int32x4_t ix = vreinterpretq_s32_f32(x);
    int32x4_t ei = vshrq_n_s32(vsubq_s32(ix, vdupq_n_s32(0x3f3504f3)), 23);
    float32x4_t m = vreinterpretq_f32_s32(vsubq_s32(ix, vshlq_n_s32(ei, 23)));
    *f = vsubq_f32(m, vdupq_n_f32(1.0f));
    *e = vcvtq_f32_s32(ei);
}
#endif /* AG__NEON */

#ifdef AG__WASM
/* ---- WebAssembly SIMD128 (-msimd128): 4 floats, 2 doubles; chosen at compile time ----
   No FMA instruction: madd is a multiply and an add (the scalar GEMM's rounding), and the vector
   math's exact fma is done in f64x2 lanes, handing the rare hard cases to ag__fmaf_soft. max/min are pmax/pmin with
   the operands swapped: pmax(b, a) = b < a ? a : b = a > b ? a : b. */
#define ag__simd128_set(x) wasm_f32x4_splat(x)
#define ag__simd128_zero() wasm_f32x4_splat(0.0f)
#define ag__simd128_loadu(p) wasm_v128_load(p)
#define ag__simd128_storeu(p, v) wasm_v128_store(p, v)
#define ag__simd128_add(a, b) wasm_f32x4_add(a, b)
#define ag__simd128_sub(a, b) wasm_f32x4_sub(a, b)
#define ag__simd128_mul(a, b) wasm_f32x4_mul(a, b)
#define ag__simd128_div(a, b) wasm_f32x4_div(a, b)
#define ag__simd128_sqrt(a) wasm_f32x4_sqrt(a)
#define ag__simd128_madd(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#define ag__simd128_fnma(a, b, c) ag__simd128_fma(wasm_f32x4_neg(a), b, c)
#define ag__simd128_neg(a) wasm_f32x4_neg(a)
#define ag__simd128_abs(a) wasm_f32x4_abs(a)
#define ag__simd128_max(a, b) wasm_f32x4_pmax(b, a)
#define ag__simd128_min(a, b) wasm_f32x4_pmin(b, a)
#define ag__simd128_gt(a, b) wasm_f32x4_gt(a, b)
#define ag__simd128_lt(a, b) wasm_f32x4_lt(a, b)
#define ag__simd128_eq(a, b) wasm_f32x4_eq(a, b)
#define ag__simd128_ge(a, b) wasm_f32x4_ge(a, b)
#define ag__simd128_sel(m, a, b) wasm_v128_bitselect(a, b, m)
#define ag__simd128_rint(a) wasm_f32x4_nearest(a)
#define ag__simd128_copysign(m, s) wasm_v128_bitselect(s, m, wasm_i32x4_splat((int32_t)0x80000000u))
#define ag__simd128d_set(x) wasm_f64x2_splat(x)
#define ag__simd128d_zero() wasm_f64x2_splat(0.0)
#define ag__simd128d_loadu(p) wasm_v128_load(p)
#define ag__simd128d_storeu(p, v) wasm_v128_store(p, v)
#define ag__simd128d_add(a, b) wasm_f64x2_add(a, b)
#define ag__simd128d_sub(a, b) wasm_f64x2_sub(a, b)
#define ag__simd128d_mul(a, b) wasm_f64x2_mul(a, b)
#define ag__simd128d_div(a, b) wasm_f64x2_div(a, b)
#define ag__simd128d_sqrt(a) wasm_f64x2_sqrt(a)
#define ag__simd128d_madd(a, b, c) wasm_f64x2_add(wasm_f64x2_mul(a, b), c)
#define ag__simd128d_neg(a) wasm_f64x2_neg(a)
#define ag__simd128d_max(a, b) wasm_f64x2_pmax(b, a)
#define ag__simd128d_min(a, b) wasm_f64x2_pmin(b, a)
#define ag__simd128d_gt(a, b) wasm_f64x2_gt(a, b)
#define ag__simd128d_lt(a, b) wasm_f64x2_lt(a, b)
#define ag__simd128d_ge(a, b) wasm_f64x2_ge(a, b)
#define ag__simd128d_sel(m, a, b) wasm_v128_bitselect(a, b, m)
/* a b + c rounded once, for two lanes promoted to double: a b is exact, s = a b + c rounds once,
   and rounding s to float is then right (see ag__fmaf_soft) unless s sits exactly on a tie of
   floats or is a nonzero value below 2^-126; *slow flags such lanes */
static AG__VM_INLINE v128_t ag__simd128_fma_f64(v128_t a, v128_t b, v128_t c, v128_t *slow) {
    v128_t s = wasm_f64x2_add(wasm_f64x2_mul(a, b), c), as = wasm_f64x2_abs(s);
    v128_t tie = wasm_i64x2_eq(wasm_v128_and(s, wasm_i64x2_splat(0x1fffffff)), wasm_i64x2_splat(0x10000000));
    v128_t tiny = wasm_v128_and(wasm_f64x2_lt(as, wasm_f64x2_splat(1.1754943508222875e-38)), wasm_f64x2_gt(as, wasm_f64x2_splat(0.0)));
    *slow = wasm_v128_or(*slow, wasm_v128_or(tie, tiny));
    return s;
}
static AG__VM_INLINE v128_t ag__simd128_fma(v128_t a, v128_t b, v128_t c) {
    v128_t slow = wasm_i64x2_splat(0), lo, hi, y;
    lo = ag__simd128_fma_f64(wasm_f64x2_promote_low_f32x4(a), wasm_f64x2_promote_low_f32x4(b),
                             wasm_f64x2_promote_low_f32x4(c), &slow);
    hi = ag__simd128_fma_f64(wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(a, a, 2, 3, 2, 3)),
                             wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(b, b, 2, 3, 2, 3)),
                             wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(c, c, 2, 3, 2, 3)), &slow);
    y = wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
    if (wasm_v128_any_true(slow)) {   /* rare: lane by lane, with the tie settled by the rounding error */
        float fa[4], fb[4], fc[4], fy[4];
        int i;
        wasm_v128_store(fa, a); wasm_v128_store(fb, b); wasm_v128_store(fc, c);
        for (i = 0; i < 4; i++) fy[i] = ag__fmaf_soft(fa[i], fb[i], fc[i]);
        y = wasm_v128_load(fy);
    }
    return y;
}
AG__PART_VIA_STACK(ag__simd128_, v128_t, 4, )
static inline void ag__simd128_pow2(v128_t k, v128_t *s1, v128_t *s2) {
    v128_t ki = wasm_i32x4_trunc_sat_f32x4(k), k1 = wasm_i32x4_shr(ki, 1), k2 = wasm_i32x4_sub(ki, k1);
    v128_t b = wasm_i32x4_splat(127);
    *s1 = wasm_i32x4_shl(wasm_i32x4_add(k1, b), 23);
    *s2 = wasm_i32x4_shl(wasm_i32x4_add(k2, b), 23);
}
static inline void ag__simd128_log_split(v128_t x, v128_t *f, v128_t *e) {
    v128_t ei = wasm_i32x4_shr(wasm_i32x4_sub(x, wasm_i32x4_splat(0x3f3504f3)), 23);
    v128_t m = wasm_i32x4_sub(x, wasm_i32x4_shl(ei, 23));
    *f = wasm_f32x4_sub(m, wasm_f32x4_splat(1.0f));
    *e = wasm_f32x4_convert_i32x4(ei);
}
#endif /* AG__WASM */

/* Every SIMD set, F32 and F64: X(prefix, type, vector type, lanes, name suffix, target attribute).
   The kernel families are instantiated for each row with AG__SIMD_SETS(AG__DEF_<family>). */
#ifdef AG__X86
#define AG__X86_SETS(X) \
    X(ag__avx2_, float, __m256, 8, f32_avx2, AG__TARGET_AVX2) AG__F64(X(ag__avx2d_, double, __m256d, 4, f64_avx2, AG__TARGET_AVX2)) \
    X(ag__avx512_, float, __m512, 16, f32_avx512, AG__TARGET_AVX512) AG__F64(X(ag__avx512d_, double, __m512d, 8, f64_avx512, AG__TARGET_AVX512))
#else
#define AG__X86_SETS(X)
#endif
#ifdef AG__NEON
#define AG__NEON_SETS(X) X(ag__neon_, float, float32x4_t, 4, f32_neon, ) AG__F64(X(ag__neond_, double, float64x2_t, 2, f64_neon, ))
#else
#define AG__NEON_SETS(X)
#endif
#ifdef AG__WASM
#define AG__WASM_SETS(X) X(ag__simd128_, float, v128_t, 4, f32_simd128, ) AG__F64(X(ag__simd128d_, double, v128_t, 2, f64_simd128, ))
#else
#define AG__WASM_SETS(X)
#endif
#define AG__SIMD_SETS(X) AG__X86_SETS(X) AG__NEON_SETS(X) AG__WASM_SETS(X)

/* ==== >>fastpath: contiguous rows of the common elementwise ops, written once ====
   Whole vectors only: each returns how many leading elements it did (a multiple of W); the
   scalar row kernel (AG__F_<op>) finishes the tail, and every vector op here rounds exactly
   as its scalar formula, so results match the scalar path bit for bit. */
#define AG__VB_LOOP(P, V, W, E) \
    for (; i + (W) <= n; i += (W)) { V u = sa ? P##loadu(a + i) : P##set(a[0]), v = sb ? P##loadu(b + i) : P##set(b[0]); P##storeu(y + i, E); }
#define AG__VU_LOOP(P, V, W, E) for (; i + (W) <= n; i += (W)) { V v = P##loadu(x + i); P##storeu(y + i, E); }
/* y = a op b with a, b dense (stride 1) or a broadcast scalar (stride 0); y = f(x) with x dense */
#define AG__DEF_VELEMENTWISE(P, T, V, W, SET, TGT) \
TGT static int64_t ag__vbinary_##SET(int op, int64_t n, T *y, const T *a, int64_t sa, const T *b, int64_t sb) { \
    int64_t i = 0; \
    switch (op) { \
    case AG__OP_add: AG__VB_LOOP(P, V, W, P##add(u, v)) break; \
    case AG__OP_sub: AG__VB_LOOP(P, V, W, P##sub(u, v)) break; \
    case AG__OP_mul: AG__VB_LOOP(P, V, W, P##mul(u, v)) break; \
    case AG__OP_div: AG__VB_LOOP(P, V, W, P##div(u, v)) break; \
    case AG__OP_relu_grad: AG__VB_LOOP(P, V, W, P##sel(P##ge(P##zero(), v), P##zero(), u)) break;   /* v <= 0 ? 0 : u (u at NaN) */ \
    default: break; \
    } \
    return i; \
} \
TGT static int64_t ag__vunary_##SET(int op, int64_t n, T *y, const T *x, double ad) { \
    int64_t i = 0; \
    switch (op) { \
    case AG__OP_neg: AG__VU_LOOP(P, V, W, P##neg(v)) break; \
    case AG__OP_add_scalar: AG__VU_LOOP(P, V, W, P##add(v, P##set((T)ad))) break; \
    case AG__OP_mul_scalar: AG__VU_LOOP(P, V, W, P##mul(v, P##set((T)ad))) break; \
    case AG__OP_relu: AG__VU_LOOP(P, V, W, P##sel(P##lt(v, P##zero()), P##zero(), v)) break;   /* NaN stays NaN */ \
    default: break; \
    } \
    return i; \
}
AG__SIMD_SETS(AG__DEF_VELEMENTWISE)

/* ag__vbinary_f32, ag__vunary_f32, ag__vbinary_f64, ag__vunary_f64: the vector part of a row for this
   context's kernel set, elements done: a contiguous row, or any row of the vector math's ops */
#define AG__DEF_VDISPATCH(T, SFX) \
static int64_t ag__vbinary_##SFX(int isa, int op, int64_t n, T *y, const T *a, int64_t sa, const T *b, int64_t sb) { \
    (void)op; (void)n; (void)y; (void)a; (void)b; \
    if (!((sa == 0 || sa == 1) && (sb == 0 || sb == 1))) return 0; \
    switch (isa) { \
    AG__IF_X86(case AG__ISA_AVX512: return ag__vbinary_##SFX##_avx512(op, n, y, a, sa, b, sb);) \
    AG__IF_X86(case AG__ISA_AVX2: return ag__vbinary_##SFX##_avx2(op, n, y, a, sa, b, sb);) \
    AG__IF_NEON(case AG__ISA_NEON: return ag__vbinary_##SFX##_neon(op, n, y, a, sa, b, sb);) \
    AG__IF_WASM(case AG__ISA_SIMD128: return ag__vbinary_##SFX##_simd128(op, n, y, a, sa, b, sb);) \
    default: return 0; \
    } \
} \
static int64_t ag__vunary_##SFX(int isa, int op, int64_t n, T *y, int64_t sy, const T *x, int64_t sx, double a) { \
    (void)op; (void)n; (void)y; (void)x; (void)a; \
    if (ag__vmath_try_##SFX(isa, op, n, y, sy, x, sx)) return n; \
    if (sx != 1 || sy != 1) return 0; \
    switch (isa) { \
    AG__IF_X86(case AG__ISA_AVX512: return ag__vunary_##SFX##_avx512(op, n, y, x, a);) \
    AG__IF_X86(case AG__ISA_AVX2: return ag__vunary_##SFX##_avx2(op, n, y, x, a);) \
    AG__IF_NEON(case AG__ISA_NEON: return ag__vunary_##SFX##_neon(op, n, y, x, a);) \
    AG__IF_WASM(case AG__ISA_SIMD128: return ag__vunary_##SFX##_simd128(op, n, y, x, a);) \
    default: return 0; \
    } \
}
#ifdef AG__X86
#define AG__IF_X86(x) x
#else
#define AG__IF_X86(x)
#endif
#ifdef AG__NEON
#define AG__IF_NEON(x) x
#else
#define AG__IF_NEON(x)
#endif
#ifdef AG__WASM
#define AG__IF_WASM(x) x
#else
#define AG__IF_WASM(x)
#endif
static int64_t ag__vmath_try_f32(int isa, int op, int64_t n, float *y, int64_t sy, const float *x, int64_t sx);
AG__F64(static int64_t ag__vmath_try_f64(int isa, int op, int64_t n, double *y, int64_t sy, const double *x, int64_t sx);)
AG__DEF_VDISPATCH(float, f32)
AG__F64(AG__DEF_VDISPATCH(double, f64))

/* ag__vpool2_<t>: max_pool2d's 2 x 2 windows over rows r0 and r1 (the next), at every column c
   (the caller takes the even ones): code[c] = where the window's first maximum is (0 r0[c], 1 r0[c+1],
   2 r1[c], 3 r1[c+1]) by the rule v > max in that order, sum[c] = the window's sum, NaN when it
   holds a NaN (the caller then walks it with the NaN rule). Columns [0, n - 1), the last vector
   ending there (overlapping the one before), so that the loads at c + 1 stay in the row; returns
   the columns done: n - 1, or 0 when a row is shorter than a vector and one. */
#define AG__DEF_VPOOL2(P, T, V, W, SET, TGT) \
TGT static int64_t ag__vpool2_##SET(int64_t n, const T *r0, const T *r1, T *code, T *sum) { \
    int64_t c, last = n - 1 - (W); \
    const V one = P##set((T)1), two = P##set((T)2), three = P##set((T)3); \
    if (last < 0) return 0; \
    for (c = 0; c <= last; c = c < last && c + (W) > last ? last : c + (W)) { \
        V a = P##loadu(r0 + c), b = P##loadu(r0 + c + 1), d = P##loadu(r1 + c), e = P##loadu(r1 + c + 1), bv = a, k = P##set((T)0); \
        k = P##sel(P##gt(b, bv), one, k); bv = P##max(b, bv); \
        k = P##sel(P##gt(d, bv), two, k); bv = P##max(d, bv); \
        k = P##sel(P##gt(e, bv), three, k); \
        P##storeu(code + c, k); \
        P##storeu(sum + c, P##add(P##add(P##add(a, b), d), e)); \
        if (c == last) break; \
    } \
    return n - 1; \
}
AG__SIMD_SETS(AG__DEF_VPOOL2)
#define AG__DEF_VPOOL2_DISPATCH(T, SFX) \
static int64_t ag__vpool2_##SFX(int isa, int64_t n, const T *r0, const T *r1, T *code, T *sum) { \
    switch (isa) { \
    AG__IF_X86(case AG__ISA_AVX512: { int64_t c = ag__vpool2_##SFX##_avx512(n, r0, r1, code, sum);   /* AVX2's for rows too short */ \
                                      return c ? c : ag__vpool2_##SFX##_avx2(n, r0, r1, code, sum); }) \
    AG__IF_X86(case AG__ISA_AVX2: return ag__vpool2_##SFX##_avx2(n, r0, r1, code, sum);) \
    AG__IF_NEON(case AG__ISA_NEON: return ag__vpool2_##SFX##_neon(n, r0, r1, code, sum);) \
    AG__IF_WASM(case AG__ISA_SIMD128: return ag__vpool2_##SFX##_simd128(n, r0, r1, code, sum);) \
    default: (void)n; (void)r0; (void)r1; (void)code; (void)sum; return 0; \
    } \
}
AG__DEF_VPOOL2_DISPATCH(float, f32)
AG__F64(AG__DEF_VPOOL2_DISPATCH(double, f64))

/* ==== >>vmath: vectorised F32 exp, log, tanh, sigmoid, gelu_tanh, silu, erf, gelu ====
   Part of the kernel layer. Assumes <math.h>, <stdint.h>, <string.h>.

   Entry points (all static), for OP in exp log tanh sigmoid gelu_tanh silu erf gelu
   and ISA in avx2 avx512 neon:
       void ag__v_<OP>_f32_<ISA>(int64_t n, const float *x, float *y);
   y[i] = OP(x[i]) for any n >= 0; x == y is allowed; no alignment needed.
   The tail (n % lanes) runs through the same vector code on a masked
   (AVX-512) or zero-padded stack copy (AVX2, NEON), so every element gets
   bit-for-bit the value a call with n = 1 would give it.
   ag__vmath_table_<ISA>(table) fills an ag__vmath_fn[AG__VMATH_COUNT].
   The caller picks the ISA at run time (AVX2 needs avx2+fma, AVX-512 needs
   only avx512f instructions; NEON is baseline on aarch64).

   Accuracy (measured by tests/test_simd_math.c against double libm, every
   97th float of the range, identical on AVX2, AVX-512 and NEON): max ulp
   exp 0.59, log 0.75, tanh 0.77, sigmoid 0.57, gelu_tanh 0.58, silu 0.57,
   erf 0.87, and gelu 1.08 for x >= -0.5 (below, the cancellation in its
   formula 1 + erf, as PyTorch's), wherever the correctly rounded result is a
   normal float. Denormal results
   are approximate or flushed to 0. Do not build with -ffast-math
   (-fassociative-math / -ffinite-math-only undo the error-free steps and the
   inf/NaN handling).

   THE ALGORITHMS (written once, in AG__VMATH_DEFINE below; each ISA only
   supplies the primitive operations P##add, P##fma, ... they are built from).

   exp_core(x, xlo, kb) = exp(x + xlo) * 2^kb as hi (+ optional lo)
       (xlo: a small correction, 0 for plain exp; kb: an integral exponent
       bias, 0 except in xsig)
       1. xc = min(89, max(-105, x)) (NaN passes through both). exp(89)
          overflows to +inf and exp(-105) rounds to +0, so the clamp only
          keeps k small.
       2. k = rint(xc * log2 e); r = xc - k*LN2_HI is exact with FMA
          (LN2_HI = float(ln 2)); rl = xlo - k*LN2_LO. |r| <= ln2/2 (+ a hair).
       3. e^r = 1 + r + r^2 Q(r), Q a degree-5 near-minimax (Chebyshev, mpmath)
          fit to (e^r - 1 - r)/r^2 on [-ln2/2, ln2/2]: rel. error 7.5e-10.
          e^(r+rl) = s + e with s = fl(1 + r), e = (1 + r - s) + r^2 Q(r)
          + rl e^r: the 1 + r sum is error-free (Fast2Sum), so the only
          sizeable rounding is the final hi = fl(s + e); lo = s + e - hi.
       4. scale hi (and lo) by 2^(k+kb) in two exact steps 2^k1 * 2^k2
          (k1 = k>>1, k2 = k - k1; each factor is a normal float). The first
          product is exact, the second rounds at most once: overflow gives
          +inf, underflow gradual denormals or 0.
   log(x)
       1. denormal x: multiply by 2^23 first and subtract 23 from the exponent.
       2. x = 2^e * m with m in [sqrt(1/2), sqrt(2)) by integer arithmetic on
          the bits (subtract the bits of sqrt(1/2), arithmetic shift by 23).
          f = m - 1 is exact, f in [-0.2929, 0.4143].
       3. log(1 + f) = f - f^2/2 + f^3 P(f), P a degree-8 near-minimax fit.
       4. log(x) = e*LN2_HI + (f + (e*LN2_LO - (f/2)*f + f^3 P(f))), the
          f^2/2 term exact inside an FMA.
       5. x == 0 -> -inf, x < 0 or NaN -> NaN, x == +inf -> +inf.
   tanh(x) = sign(x) * t(|x|)
       |x| < 0.625: t = a + a^3 T(a^2), T a degree-5 near-minimax fit (no
                    cancellation near 0; tanh(-0) = -0).
       otherwise:   t = 1 - 2 / (1 + E), E = exp(2|x|) as hi + lo, 1 + E as
                    d + dl (Fast2Sum), the quotient 2/(d + dl) refined with
                    its FMA remainder before the subtraction (which is exact
                    when t < 0.75). |x| > 9.5 gives 1; NaN stays NaN.
   xsig(x, a, al) = x * sigmoid(a + al) = x / (1 + exp(-(a + al)))
       E = exp(-|a + al|) (never overflows), as hi + lo. The result is
       x / (1 + E) for a >= 0 and x E / (1 + E) for a < 0, evaluated in
       float-float: numerator (x E exact with FMA) and 1 + E as hi + lo
       pairs, q0 = num * (1/d), then q = q0 + (num - q0 d - q0 dl) / d with
       the remainder from an FMA; so only the last rounding matters. For
       a < -64 the 1 in 1 + E is below rounding: E is computed times 2^64
       (kb = 64, stays normal) and the quotient scaled back by 2^-64, so
       nothing is lost to a denormal E while the result is still normal.
       a > 20 gives x exactly; a < -104 gives a zero with the sign of x.
   sigmoid(x)   = xsig(1, x, 0)
   silu(x)      = xsig(x, x, 0)        (silu(-inf) = -0, silu(+inf) = +inf)
   gelu_tanh(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
                = x * sigmoid(2u) = xsig(x, w, wl)  (no cancellation for x < 0)
       2u reaches ~90 and exp turns its absolute error into a relative one,
       so w + wl = 2u = xc (A + B xc^2) (A = 2 sqrt(2/pi) = AH + AL,
       B = 0.044715 A = BH + BL) is computed in float-float (error-free
       products with FMA, TwoSum), with xc = clamp(x, -12, 12): beyond that
       the result is x or a signed 0 anyway.
   erf(x) = sign(x) * e(|x|), three pieces, every lane computing all three
       (fits: least squares on Chebyshev nodes against mpmath, rounded to float):
       |x| < 0.75: x (C + z A(z)), z = x^2, A of degree 5, C = 2/sqrt(pi) as
                   CH + CL; x scaled by 2^64 first so tiny x make no denormal
                   products.
       |x| < 2:    erf(1.25) + d M(d), d = |x| - 1.25 (exact: Sterbenz), M of
                   degree 10, erf(1.25) as MH + ML. The pieces meet where the
                   correction term is at most a fifth of the result.
       otherwise:  1 - exp(-x^2) T(x) with x clamped to 4 (beyond, 1), x^2 as
                   s + sl (FMA) into exp_core, T a degree-6 fit of
                   erfc(x) e^(x^2) around 3; rounded once (fnma).
   gelu(x) = h + h erf(x / sqrt 2), h = x/2 (exact), one rounding (fma), with
       the sign of x (gelu(-0) = -0). Below -0.5, 1 + erf cancels (as in
       PyTorch's formula); gelu(-inf) is NaN, as PyTorch's.
*/
enum { AG__VMATH_EXP, AG__VMATH_LOG, AG__VMATH_TANH, AG__VMATH_SIGMOID, AG__VMATH_GELU_TANH,
       AG__VMATH_SILU, AG__VMATH_ERF, AG__VMATH_GELU, AG__VMATH_COUNT };
typedef void (*ag__vmath_fn)(int64_t n, const float *x, float *y);

/* Constants (float literals; the fits were rounded to float and re-checked). */
#define AG__VM_LOG2E   1.44269504089f
#define AG__VM_LN2_HI  0.693147182464599609375f         /* float(ln 2) */
#define AG__VM_LN2_LO  -1.90465429995e-09f               /* ln 2 - LN2_HI */
#define AG__VM_EXP_Q5  1.989107986e-04f
#define AG__VM_EXP_Q4  1.393373124e-03f
#define AG__VM_EXP_Q3  8.333310485e-03f
#define AG__VM_EXP_Q2  4.166646302e-02f
#define AG__VM_EXP_Q1  1.666666716e-01f
#define AG__VM_EXP_Q0  5.000000000e-01f
#define AG__VM_LOG_P8  6.971346587e-02f
#define AG__VM_LOG_P7  -1.148308143e-01f
#define AG__VM_LOG_P6  1.168702468e-01f
#define AG__VM_LOG_P5  -1.242536008e-01f
#define AG__VM_LOG_P4  1.424887627e-01f
#define AG__VM_LOG_P3  -1.666781008e-01f
#define AG__VM_LOG_P2  2.000072002e-01f
#define AG__VM_LOG_P1  -2.499999702e-01f
#define AG__VM_LOG_P0  3.333333135e-01f
#define AG__VM_TANH_T5 2.291770419e-03f
#define AG__VM_TANH_T4 -8.343085647e-03f
#define AG__VM_TANH_T3 2.176865563e-02f
#define AG__VM_TANH_T2 -5.395922810e-02f
#define AG__VM_TANH_T1 1.333330274e-01f
#define AG__VM_TANH_T0 -3.333333433e-01f
#define AG__VM_GELU_AH 1.59576916694641113281f           /* A = 2 sqrt(2/pi) = AH + AL */
#define AG__VM_GELU_AL -4.534068042e-08f
#define AG__VM_GELU_BH 0.0713548138737678527832f         /* B = 0.044715 A = BH + BL */
#define AG__VM_GELU_BL 2.398832396e-09f
#define AG__VM_ERF_CH  1.128379225730896f               /* C = 2/sqrt(pi) = CH + CL */
#define AG__VM_ERF_CL  -5.863538277e-08f
#define AG__VM_ERF_A0  -3.761263788e-01f
#define AG__VM_ERF_A1  1.128378063e-01f
#define AG__VM_ERF_A2  -2.686489187e-02f
#define AG__VM_ERF_A3  5.217146128e-03f
#define AG__VM_ERF_A4  -8.362045628e-04f
#define AG__VM_ERF_A5  9.498648433e-05f
#define AG__VM_ERF_MH  0.92290014028549194f             /* erf(1.25) = MH + ML */
#define AG__VM_ERF_ML  -1.202903377e-08f
#define AG__VM_ERF_M0  2.365211248e-01f
#define AG__VM_ERF_M1  -2.956514060e-01f
#define AG__VM_ERF_M2  1.675357968e-01f
#define AG__VM_ERF_M3  -6.159219891e-03f
#define AG__VM_ERF_M4  -4.718096927e-02f
#define AG__VM_ERF_M5  2.129871584e-02f
#define AG__VM_ERF_M6  3.626079066e-03f
#define AG__VM_ERF_M7  -5.681599956e-03f
#define AG__VM_ERF_M8  8.712798008e-04f
#define AG__VM_ERF_M9  7.460986380e-04f
#define AG__VM_ERF_M10 -2.898045932e-04f
#define AG__VM_ERF_T0  1.790011078e-01f
#define AG__VM_ERF_T1  -5.437483639e-02f
#define AG__VM_ERF_T2  1.588582247e-02f
#define AG__VM_ERF_T3  -4.459078889e-03f
#define AG__VM_ERF_T4  1.215876779e-03f
#define AG__VM_ERF_T5  -3.638132766e-04f
#define AG__VM_ERF_T6  9.471501835e-05f

/* AG__VMATH_DEFINE(P, S, V, M, INL, TGT, W): the algorithms above, for one ISA.
   P is the prefix of the primitives (e.g. ag__avx2_), S the ISA suffix of
   the entry points (avx2), V the float vector type, M the mask type, INL how the
   per-vector functions inline (AG__VM_INLINE: always, for vectors), TGT the target
   attribute, W the lane count. The
   primitives: set(float), loadu, storeu, load_part(p, m), store_part(p, v, m),
   add sub mul div, fma(a,b,c) = a*b+c, fnma(a,b,c) = c-a*b, neg, abs,
   copysign(mag, sgn), max(c, x) / min(c, x) (x if x is NaN),
   rint (to nearest even), lt(a,b) eq(a,b) ge(a,b) -> M, sel(m, a, b) = m ? a : b,
   pow2(k, &s1, &s2): s1 * s2 = 2^k for integral-valued float k in [-152, 130]
   (exp step 4), log_split(x, &f, &e): step 2 of log. */
#define AG__VMATH_DEFINE(P, S, V, M, INL, TGT, W) \
static INL TGT V P##exp_core(V x, V xlo, V kb, V *lo) { \
    V xc = P##min(P##set(89.0f), P##max(P##set(-105.0f), x)); \
    V k = P##rint(P##mul(xc, P##set(AG__VM_LOG2E))); \
    V r = P##fnma(k, P##set(AG__VM_LN2_HI), xc);                         /* exact */ \
    V rl = P##fnma(k, P##set(AG__VM_LN2_LO), xlo);                       /* x + xlo - k ln2 = r + rl */ \
    V r2 = P##mul(r, r), q, t, s, e, hi, s1, s2; \
    q = P##fma(r, P##set(AG__VM_EXP_Q5), P##set(AG__VM_EXP_Q4)); \
    q = P##fma(r, q, P##set(AG__VM_EXP_Q3)); \
    q = P##fma(r, q, P##set(AG__VM_EXP_Q2)); \
    q = P##fma(r, q, P##set(AG__VM_EXP_Q1)); \
    q = P##fma(r, q, P##set(AG__VM_EXP_Q0)); \
    t = P##fma(r2, q, P##fma(rl, P##fma(r2, q, r), rl)); /* r^2 Q(r) + rl e^r */ \
    s = P##add(P##set(1.0f), r); \
    e = P##add(P##sub(r, P##sub(s, P##set(1.0f))), t);  /* e^(r+rl) = s + e, s = fl(1 + r) */ \
    hi = P##add(s, e); \
    P##pow2(P##add(k, kb), &s1, &s2); \
    if (lo) *lo = P##mul(P##mul(P##add(P##sub(s, hi), e), s1), s2); /* hi + lo = s + e (Fast2Sum) */ \
    return P##mul(P##mul(hi, s1), s2); \
} \
static INL TGT V P##exp_v(V x) { return P##exp_core(x, P##set(0.0f), P##set(0.0f), 0); } \
/* x * sigmoid(a + al): see xsig in the comment at the top */ \
static INL TGT V P##xsig(V x, V a, V al) { \
    M neg = P##lt(a, P##set(0.0f)), big = P##lt(a, P##set(-64.0f)); \
    V aa = P##abs(a), aal = P##sel(neg, P##neg(al), al), e, el, d, dl, nh, nl, rinv, q0, rem, y; \
    e = P##exp_core(P##neg(aa), P##neg(aal), P##sel(big, P##set(64.0f), P##set(0.0f)), &el); \
    d = P##add(P##set(1.0f), P##sel(big, P##set(0.0f), e)); \
    dl = P##sel(big, P##set(0.0f), P##add(P##add(P##sub(P##set(1.0f), d), e), el)); \
    nh = P##sel(neg, P##mul(x, e), x); \
    nl = P##sel(neg, P##fma(x, el, P##fma(x, e, P##neg(nh))), P##set(0.0f)); \
    rinv = P##div(P##set(1.0f), d); \
    q0 = P##mul(nh, rinv); \
    rem = P##add(P##fnma(q0, d, nh), nl); \
    rem = P##fnma(q0, dl, rem); \
    y = P##copysign(P##fma(rem, rinv, q0), x);          /* keeps silu(-0) = -0 */ \
    y = P##mul(y, P##sel(big, P##set(5.42101086e-20f), P##set(1.0f))); \
    y = P##sel(P##lt(P##set(20.0f), a), x, y); \
    return P##sel(P##lt(a, P##set(-104.0f)), P##copysign(P##set(0.0f), x), y); \
} \
static INL TGT V P##log_v(V x) { \
    M tiny = P##lt(x, P##set(1.17549435e-38f)); \
    V xs = P##sel(tiny, P##mul(x, P##set(8388608.0f)), x); \
    V f, e, f2, hf, p, y; \
    P##log_split(xs, &f, &e); \
    e = P##sub(e, P##sel(tiny, P##set(23.0f), P##set(0.0f))); \
    f2 = P##mul(f, f); \
    hf = P##mul(f, P##set(0.5f)); \
    p = P##fma(f, P##set(AG__VM_LOG_P8), P##set(AG__VM_LOG_P7)); \
    p = P##fma(f, p, P##set(AG__VM_LOG_P6)); \
    p = P##fma(f, p, P##set(AG__VM_LOG_P5)); \
    p = P##fma(f, p, P##set(AG__VM_LOG_P4)); \
    p = P##fma(f, p, P##set(AG__VM_LOG_P3)); \
    p = P##fma(f, p, P##set(AG__VM_LOG_P2)); \
    p = P##fma(f, p, P##set(AG__VM_LOG_P1)); \
    p = P##fma(f, p, P##set(AG__VM_LOG_P0)); \
    y = P##mul(P##mul(f2, f), p); \
    y = P##fma(e, P##set(AG__VM_LN2_LO), y); \
    y = P##fnma(hf, f, y); \
    y = P##fma(e, P##set(AG__VM_LN2_HI), P##add(f, y)); \
    y = P##sel(P##eq(x, P##set(0.0f)), P##set(-INFINITY), y); \
    y = P##sel(P##eq(x, P##set(INFINITY)), x, y); \
    return P##sel(P##ge(x, P##set(0.0f)), y, P##set(NAN)); \
} \
static INL TGT V P##tanh_v(V x) { \
    V ax = P##abs(x), z = P##mul(x, x), t, e, el, d, dl, rinv, q0, rem, yl; \
    t = P##fma(z, P##set(AG__VM_TANH_T5), P##set(AG__VM_TANH_T4)); \
    t = P##fma(z, t, P##set(AG__VM_TANH_T3)); \
    t = P##fma(z, t, P##set(AG__VM_TANH_T2)); \
    t = P##fma(z, t, P##set(AG__VM_TANH_T1)); \
    t = P##fma(z, t, P##set(AG__VM_TANH_T0)); \
    t = P##fma(ax, P##mul(z, t), ax); \
    e = P##exp_core(P##add(ax, ax), P##set(0.0f), P##set(0.0f), &el); \
    d = P##add(e, P##set(1.0f)); \
    dl = P##add(P##add(P##sub(e, d), P##set(1.0f)), el);  /* 1 + e = d + dl */ \
    rinv = P##div(P##set(1.0f), d); \
    q0 = P##mul(P##set(2.0f), rinv); \
    rem = P##fnma(q0, dl, P##fnma(q0, d, P##set(2.0f))); \
    yl = P##sub(P##set(1.0f), P##fma(rem, rinv, q0));     /* 1 - 2 / (d + dl) */ \
    yl = P##sel(P##lt(P##set(9.5f), ax), P##set(1.0f), yl); \
    return P##copysign(P##sel(P##lt(ax, P##set(0.625f)), t, yl), x); \
} \
static INL TGT V P##sigmoid_v(V x) { return P##xsig(P##set(1.0f), x, P##set(0.0f)); } \
static INL TGT V P##silu_v(V x) { return P##xsig(x, x, P##set(0.0f)); } \
static INL TGT V P##gelu_tanh_v(V x) { \
    V xc = P##min(P##set(12.0f), P##max(P##set(-12.0f), x)); \
    V s, sl, p, pl, t, bb, tl, w, wl; \
    s = P##mul(xc, xc); sl = P##fma(xc, xc, P##neg(s));                  /* xc^2 = s + sl */ \
    p = P##mul(P##set(AG__VM_GELU_BH), s); \
    pl = P##fma(P##set(AG__VM_GELU_BH), s, P##neg(p));                   /* BH s = p + pl */ \
    pl = P##fma(P##set(AG__VM_GELU_BH), sl, pl); \
    pl = P##fma(P##set(AG__VM_GELU_BL), s, pl);                          /* B xc^2 ~ p + pl */ \
    t = P##add(P##set(AG__VM_GELU_AH), p);                               /* two-sum AH + p */ \
    bb = P##sub(t, P##set(AG__VM_GELU_AH)); \
    tl = P##add(P##sub(P##set(AG__VM_GELU_AH), P##sub(t, bb)), P##sub(p, bb)); \
    tl = P##add(tl, P##add(pl, P##set(AG__VM_GELU_AL)));                 /* A + B xc^2 ~ t + tl */ \
    w = P##mul(xc, t); \
    wl = P##fma(xc, tl, P##fma(xc, t, P##neg(w)));                       /* 2u ~ w + wl */ \
    return P##xsig(x, w, wl); \
} \
static INL TGT V P##erf_v(V x) { \
    V ax = P##abs(x), z = P##mul(ax, ax), xs, a, d, m, xc, s, sl, e, t, r, y; \
    a = P##fma(z, P##set(AG__VM_ERF_A5), P##set(AG__VM_ERF_A4));        /* |x| < 0.75: x (C + z A(z)) */ \
    a = P##fma(z, a, P##set(AG__VM_ERF_A3)); \
    a = P##fma(z, a, P##set(AG__VM_ERF_A2)); \
    a = P##fma(z, a, P##set(AG__VM_ERF_A1)); \
    a = P##fma(z, a, P##set(AG__VM_ERF_A0)); \
    a = P##fma(z, a, P##set(AG__VM_ERF_CL)); \
    xs = P##mul(ax, P##set(18446744073709551616.0f));                   /* x 2^64: no denormal products for tiny x */ \
    a = P##mul(P##fma(xs, P##set(AG__VM_ERF_CH), P##mul(xs, a)), P##set(5.42101086e-20f)); \
    d = P##sub(ax, P##set(1.25f));                                     /* |x| < 2.0: erf(1.25) + d M(d) */ \
    m = P##fma(d, P##set(AG__VM_ERF_M10), P##set(AG__VM_ERF_M9)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M8)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M7)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M6)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M5)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M4)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M3)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M2)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M1)); \
    m = P##fma(d, m, P##set(AG__VM_ERF_M0)); \
    m = P##add(P##set(AG__VM_ERF_MH), P##fma(d, m, P##set(AG__VM_ERF_ML))); \
    xc = P##min(P##set(4.0f), ax);                                        /* beyond: 1 - exp(-x^2) T(x) */ \
    s = P##mul(xc, xc); sl = P##fma(xc, xc, P##neg(s));                  /* xc^2 = s + sl */ \
    e = P##exp_core(P##neg(s), P##neg(sl), P##set(0.0f), 0); \
    t = P##sub(xc, P##set(3.0f)); \
    r = P##fma(t, P##set(AG__VM_ERF_T6), P##set(AG__VM_ERF_T5)); \
    r = P##fma(t, r, P##set(AG__VM_ERF_T4)); \
    r = P##fma(t, r, P##set(AG__VM_ERF_T3)); \
    r = P##fma(t, r, P##set(AG__VM_ERF_T2)); \
    r = P##fma(t, r, P##set(AG__VM_ERF_T1)); \
    r = P##fma(t, r, P##set(AG__VM_ERF_T0)); \
    y = P##fnma(e, r, P##set(1.0f)); \
    y = P##sel(P##lt(ax, P##set(2.0f)), m, y); \
    y = P##sel(P##lt(ax, P##set(0.75f)), a, y); \
    return P##copysign(y, x);                                            /* erf(-0) = -0 */ \
} \
static INL TGT V P##gelu_v(V x) {                               /* h + h erf(x / sqrt 2), h = x / 2: one rounding */ \
    V h = P##mul(P##set(0.5f), x); \
    return P##copysign(P##fma(h, P##erf_v(P##mul(x, P##set(0.70710678118654752f))), h), x);   /* gelu(-0) = -0 */ \
} \
AG__VMATH_LOOPS(P, S, V, TGT, W, exp) \
AG__VMATH_LOOPS(P, S, V, TGT, W, log) \
AG__VMATH_LOOPS(P, S, V, TGT, W, tanh) \
AG__VMATH_LOOPS(P, S, V, TGT, W, sigmoid) \
AG__VMATH_LOOPS(P, S, V, TGT, W, gelu_tanh) \
AG__VMATH_LOOPS(P, S, V, TGT, W, silu) \
AG__VMATH_LOOPS(P, S, V, TGT, W, erf) \
AG__VMATH_LOOPS(P, S, V, TGT, W, gelu) \
static AG__VM_UNUSED void ag__vmath_table_##S(ag__vmath_fn table[AG__VMATH_COUNT]) { \
    table[AG__VMATH_EXP] = ag__v_exp_f32_##S; \
    table[AG__VMATH_LOG] = ag__v_log_f32_##S; \
    table[AG__VMATH_TANH] = ag__v_tanh_f32_##S; \
    table[AG__VMATH_SIGMOID] = ag__v_sigmoid_f32_##S; \
    table[AG__VMATH_GELU_TANH] = ag__v_gelu_tanh_f32_##S; \
    table[AG__VMATH_SILU] = ag__v_silu_f32_##S; \
    table[AG__VMATH_ERF] = ag__v_erf_f32_##S; \
    table[AG__VMATH_GELU] = ag__v_gelu_f32_##S; \
}

/* the row loop: one copy of the algorithm for whole vectors and the tail (iterations are
   independent, so the CPU overlaps them without unrolling; one copy compiles in half the time) */
#define AG__VMATH_LOOPS(P, S, V, TGT, W, OP) \
static TGT void ag__v_##OP##_f32_##S(int64_t n, const float *x, float *y) { \
    int64_t i; \
    for (i = 0; i < n; i += (W)) { \
        int64_t m = n - i < (W) ? n - i : (W); \
        V v = P##OP##_v(m == (W) ? P##loadu(x + i) : P##load_part(x + i, m)); \
        if (m == (W)) P##storeu(y + i, v); else P##store_part(y + i, v, m); \
    } \
}

#ifdef AG__X86
AG__VMATH_DEFINE(ag__avx2_, avx2, __m256, __m256, AG__VM_INLINE, AG__TARGET_AVX2, 8)
AG__VMATH_DEFINE(ag__avx512_, avx512, __m512, __mmask16, AG__VM_INLINE, AG__TARGET_AVX512, 16)
#endif
#ifdef AG__NEON
AG__VMATH_DEFINE(ag__neon_, neon, float32x4_t, uint32x4_t, AG__VM_INLINE, , 4)
#endif
#ifdef AG__WASM
AG__VMATH_DEFINE(ag__simd128_, simd128, v128_t, v128_t, AG__VM_INLINE, , 4)
#endif

/* ---- the same algorithms one float at a time: the F32 formulas of exp, log, tanh, sigmoid,
   gelu_tanh, silu, erf and gelu (AG__F_<op>) use them, so every path without a vector set (the
   scalar set, scalar-only builds, WebAssembly without SIMD128, Cortex-M) gives the vector sets'
   bits, whatever the C library. rintf rounds to even in the default rounding mode; fma is
   ag__fmaf (>>simd): software on x86-64 without -mfma, so contexts with a vector set send strided
   rows through it too (ag__vmath_try_f32), not through these. ---- */
#define ag__sf_sub(a, b) ((a) - (b))
#define ag__sf_fma(a, b, c) ag__fmaf(a, b, c)
#define ag__sf_fnma(a, b, c) ag__fmaf(-(a), b, c)
#define ag__sf_neg(a) (-(a))
#define ag__sf_abs(a) fabsf(a)
#define ag__sf_min(a, b) ((a) < (b) ? (a) : (b))      /* b where unordered, as the vector sets */
#define ag__sf_lt(a, b) ((a) < (b))
#define ag__sf_eq(a, b) ((a) == (b))
#define ag__sf_ge(a, b) ((a) >= (b))
#define ag__sf_sel(m, a, b) ((m) ? (a) : (b))
#define ag__sf_rint(a) rintf(a)
#define ag__sf_copysign(m, s) copysignf(m, s)
#define ag__sf_load_part(p, m) (*(p))
#define ag__sf_store_part(p, v, m) (*(p) = (v))
static AG__VM_INLINE float ag__sf_bits_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static AG__VM_INLINE void ag__sf_pow2(float k, float *s1, float *s2) {   /* 2^k = s1 s2, k integral in [-152, 130] */
    int32_t ki = k == k ? (int32_t)k : 0, k1 = ki < 0 ? -((-ki + 1) / 2) : ki / 2, k2 = ki - k1;   /* k1 = floor(k / 2); NaN: the result is NaN anyway */
    *s1 = ag__sf_bits_float((uint32_t)(k1 + 127) << 23);
    *s2 = ag__sf_bits_float((uint32_t)(k2 + 127) << 23);
}
static AG__VM_INLINE void ag__sf_log_split(float x, float *f, float *e) {   /* x = 2^e (1 + f), 1 + f in [0.707, 1.414) */
    uint32_t ix;
    int32_t d, ei;
    memcpy(&ix, &x, 4);
    d = (int32_t)(ix - 0x3f3504f3u);
    ei = d >= 0 ? d / 8388608 : -((-(d + 1)) / 8388608) - 1;   /* floor(d / 2^23), as an arithmetic shift */
    *f = ag__sf_bits_float(ix - (uint32_t)ei * 8388608u) - 1.0f;
    *e = (float)ei;
}
/* one float passes in a register, so these need not inline everywhere: the compiler decides
   (forced into every row loop, they cost 2-3% of gcc's compile and 15% of clang's, for speed only
   the scalar set wants); AG__EXACT, so that no a*b + c in them is fused wherever they land */
AG__VMATH_DEFINE(ag__sf_, scalar, float, int, inline AG__EXACT, , 1)

/* F32 exp, log, tanh, sigmoid, gelu_tanh, silu, erf and gelu of a row with the vector math above
   (within 1 ulp; gelu 1.25 from -0.5 on): y[i sy] = f(x[i sx]); returns n, or 0 where this context has
   no vector set for it. A strided row goes through a buffer on the stack, AG__VMATH_CHUNK elements at
   a time: the same bits as the scalar formulas, and 100x faster than them where fmaf is software
   (x86-64 without -mfma: about 30 ns an element). */
#define AG__VMATH_CHUNK 64   /* 256 bytes of stack; a chunk is 4 AVX-512 vectors or more */
static ag__vmath_fn ag__vmath_get_f32(int isa, int op) {   /* the row function of op on this set, or NULL */
    ag__vmath_fn table[AG__VMATH_COUNT];
    int f;
    switch (op) {
    case AG__OP_exp: f = AG__VMATH_EXP; break;
    case AG__OP_log: f = AG__VMATH_LOG; break;
    case AG__OP_tanh: f = AG__VMATH_TANH; break;
    case AG__OP_sigmoid: f = AG__VMATH_SIGMOID; break;
    case AG__OP_gelu_tanh: f = AG__VMATH_GELU_TANH; break;
    case AG__OP_silu: f = AG__VMATH_SILU; break;
    case AG__OP_erf: f = AG__VMATH_ERF; break;
    case AG__OP_gelu: f = AG__VMATH_GELU; break;
    default: return NULL;
    }
    switch (isa) {
    AG__IF_X86(case AG__ISA_AVX512: ag__vmath_table_avx512(table); break;)
    AG__IF_X86(case AG__ISA_AVX2: ag__vmath_table_avx2(table); break;)
    AG__IF_NEON(case AG__ISA_NEON: ag__vmath_table_neon(table); break;)
    AG__IF_WASM(case AG__ISA_SIMD128: ag__vmath_table_simd128(table); break;)
    default: (void)table; return NULL;
    }
    return table[f];
}
static void ag__vmath_strided_f32(ag__vmath_fn f, int64_t n, float *y, int64_t sy, const float *x, int64_t sx) {
    float buf[AG__VMATH_CHUNK];
    int64_t i, j, m;
    for (i = 0; i < n; i += m) {
        m = n - i < AG__VMATH_CHUNK ? n - i : AG__VMATH_CHUNK;
        for (j = 0; j < m; j++) buf[j] = x[(i + j) * sx];
        f(m, buf, buf);   /* in place: each vector is loaded before it is stored */
        for (j = 0; j < m; j++) y[(i + j) * sy] = buf[j];
    }
}
static int64_t ag__vmath_try_f32(int isa, int op, int64_t n, float *y, int64_t sy, const float *x, int64_t sx) {
    ag__vmath_fn f = ag__vmath_get_f32(isa, op);
    if (!f) return 0;
    if (sx == 1 && sy == 1) f(n, x, y);
    else ag__vmath_strided_f32(f, n, y, sy, x, sx);   /* a buffer of its own: the dense call keeps a small frame */
    return n;
}
#ifndef AG_NO_F64
static int64_t ag__vmath_try_f64(int isa, int op, int64_t n, double *y, int64_t sy, const double *x, int64_t sx) {
    (void)isa; (void)op; (void)n; (void)y; (void)sy; (void)x; (void)sx;
    return 0;   /* F64 keeps libm */
}
#endif

/* The row kernels of the elementwise ops: y[i] = AG__F_<op>(x[i]) for the ops of AG__UNARY_OPS and
   y[i] = AG__F_<op>(a[i], b[i]) for those of AG__BINARY_OPS, one case per row of the table. The
   formulas sit in the ops' blocks (>>ops), so the loops are instantiated after them
   (>>elementwise): ag__unary_row_f32, ag__unary_row_f64, ag__binary_row_f32, ag__binary_row_f64.
   The contiguous part of a row goes to the SIMD fast path first where there is one. */
#define AG__ULOOP(T, E) for (i = i0; i < n; i++) { T v = x[i * sx]; y[i * sy] = (T)(E); }
#define AG__UNARY_CASE_F32(name, bw, jvp, kernel, saves, batch) case AG__OP_##name: AG__ULOOP(float, AG__F_##name(float, f, v, a, b)) break;
#define AG__UNARY_CASE_F64(name, bw, jvp, kernel, saves, batch) case AG__OP_##name: AG__ULOOP(double, AG__F_##name(double, , v, a, b)) break;
#define AG__DEF_UNARY(T, SFX, CASE) \
AG__EXACT static void ag__unary_row_##SFX(const void *kp, int64_t n, char **p, const int64_t *s) { \
    const ag__kern *k = (const ag__kern *)kp; \
    T *y = (T *)p[0]; const T *x = (const T *)p[1]; \
    const int64_t sy = s[0], sx = s[1]; \
    const T a = (T)k->a, b = (T)k->b; \
    int64_t i, i0 = ag__vunary_##SFX(k->isa, k->op, n, y, sy, x, sx, k->a); \
    (void)a; (void)b; \
    switch (k->op) { \
    AG__UNARY_OPS(CASE) \
    default: AG_ASSERT(0); \
    } \
}
#define AG__BLOOP(T, E) for (i = i0; i < n; i++) { T u = a[i * sa], v = b[i * sb]; y[i * sy] = (T)(E); }
#define AG__BINARY_CASE_F32(name, bw, jvp, kernel, saves, batch) case AG__OP_##name: AG__BLOOP(float, AG__F_##name(float, f, u, v)) break;
#define AG__BINARY_CASE_F64(name, bw, jvp, kernel, saves, batch) case AG__OP_##name: AG__BLOOP(double, AG__F_##name(double, , u, v)) break;
#define AG__DEF_BINARY(T, SFX, CASE) \
AG__EXACT static void ag__binary_row_##SFX(const void *kp, int64_t n, char **p, const int64_t *s) { \
    const ag__kern *k = (const ag__kern *)kp; \
    T *y = (T *)p[0]; const T *a = (const T *)p[1], *b = (const T *)p[2]; \
    const int64_t sy = s[0], sa = s[1], sb = s[2]; \
    int64_t i, i0 = sy == 1 ? ag__vbinary_##SFX(k->isa, k->op, n, y, a, sa, b, sb) : 0; \
    switch (k->op) { \
    AG__BINARY_OPS(CASE) \
    default: AG_ASSERT(0); \
    } \
}
static void ag__unary_row_f32(const void *kp, int64_t n, char **p, const int64_t *s);
AG__F64(static void ag__unary_row_f64(const void *kp, int64_t n, char **p, const int64_t *s);)
static void ag__binary_row_f32(const void *kp, int64_t n, char **p, const int64_t *s);
AG__F64(static void ag__binary_row_f64(const void *kp, int64_t n, char **p, const int64_t *s);)

/* Sums: every sum of many values (reductions and means, softmax denominators, cumsum, gradient norms)
   adds through ag__acc, here only (along a row, ag__sum_row below runs 16 chains of the same adds).
   The default build adds in double: s += x (an F32 sum of n terms then errs by about n 2^-53, far
   below F32's 2^-24). AG_NO_F64 adds in float with Kahan's compensation, no
   double emulation on an F32-only FPU:
       y = x - c; t = s + y; c = (t - s) - y; s = t    (error <= (2 eps + n eps^2) sum |x|, eps = 2^-24)
   an infinite or NaN t keeps no compensation (c = 0), so inf + 1 stays inf. */
#ifdef AG_NO_F64
typedef float ag__accv;
typedef struct { float s, c; } ag__acc;
static bool ag__finitef(float v) { uint32_t b; memcpy(&b, &v, sizeof b); return (b & 0x7f800000u) != 0x7f800000u; }
static AG__VM_INLINE void ag__acc_add(ag__acc *a, float x) {
    float y = x - a->c, t = a->s + y;
    a->c = ag__finitef(t) ? (t - a->s) - y : 0.0f;
    a->s = t;
}
#else
typedef double ag__accv;
typedef struct { double s; } ag__acc;
static AG__VM_INLINE void ag__acc_add(ag__acc *a, double x) { a->s += x; }
#endif
static AG__VM_INLINE void ag__acc_init(ag__acc *a, ag__accv v) { memset(a, 0, sizeof *a); a->s = v; }

/* acc[i] += x[i] over a dense row of F32 into dense double accumulators, a vector at a time (each
   lane's sum in the same order as the scalar loop: the same bits); returns the elements done */
#if defined(AG__X86) && !defined(AG_NO_F64)
#define AG__LOAD8_F32(p) _mm512_maskz_cvtps_pd(0xff, _mm256_loadu_ps(p))   /* 8 floats as doubles (maskz: g++ 12 warns on cvtps_pd's undefined source) */
#define AG__LOAD4_F32(p) _mm256_cvtps_pd(_mm_loadu_ps(p))                  /* 4 floats as doubles */
AG__TARGET_AVX512 static int64_t ag__vacc_f32_avx512(int64_t n, double *acc, const float *x) {
    int64_t i;
    for (i = 0; i + 8 <= n; i += 8) _mm512_storeu_pd(acc + i, _mm512_add_pd(_mm512_loadu_pd(acc + i), AG__LOAD8_F32(x + i)));
    return i;
}
AG__TARGET_AVX2 static int64_t ag__vacc_f32_avx2(int64_t n, double *acc, const float *x) {
    int64_t i;
    for (i = 0; i + 4 <= n; i += 4) _mm256_storeu_pd(acc + i, _mm256_add_pd(_mm256_loadu_pd(acc + i), AG__LOAD4_F32(x + i)));
    return i;
}
#endif
static int64_t ag__vacc_f32(int isa, int64_t n, ag__acc *acc, const float *x) {
#if defined(AG__X86) && !defined(AG_NO_F64)
    if (isa == AG__ISA_AVX512) return ag__vacc_f32_avx512(n, &acc->s, x);
    if (isa == AG__ISA_AVX2) return ag__vacc_f32_avx2(n, &acc->s, x);
#endif
    (void)isa; (void)n; (void)acc; (void)x;
    return 0;
}
/* The sum of a row of n (stride sx) for a reduction along it, in the default build: 16 chains
   (chain j adds x[j], x[j + 16], ...), combined pairwise (j += j + 8, then + 4, + 2, + 1), then the
   last n % 16 one by one. One chain ran at an add per 4 cycles; sixteen keep the adders busy.
   The chains are the C loop below, or on x86 for dense rows two or four vectors of doubles (chain
   j in lane j): the same adds, the same bits on every kernel set. A row shorter than 16 is the
   plain loop. AG_NO_F64 keeps one compensated chain (ag__acc). */
#ifndef AG_NO_F64
#define AG__SUM_TREE(c) (((((c)[0] + (c)[8]) + ((c)[4] + (c)[12])) + (((c)[2] + (c)[10]) + ((c)[6] + (c)[14]))) + \
                         ((((c)[1] + (c)[9]) + ((c)[5] + (c)[13])) + (((c)[3] + (c)[11]) + ((c)[7] + (c)[15]))))
#if defined(AG__X86)
/* c[16] += the chains' whole blocks of 16; returns where they stop (LOAD8, LOAD4: 8 or 4 of x as doubles) */
#define AG__DEF_VSUM16_AVX512(T, SFX, LOAD8) \
AG__TARGET_AVX512 static int64_t ag__vsum16_##SFX##_avx512(int64_t n, const T *x, double *c) { \
    __m512d lo = _mm512_loadu_pd(c), hi = _mm512_loadu_pd(c + 8); \
    int64_t i; \
    for (i = 0; i + 16 <= n; i += 16) { lo = _mm512_add_pd(lo, LOAD8(x + i)); hi = _mm512_add_pd(hi, LOAD8(x + i + 8)); } \
    _mm512_storeu_pd(c, lo); _mm512_storeu_pd(c + 8, hi); \
    return i; \
}
AG__DEF_VSUM16_AVX512(float, f32, AG__LOAD8_F32)
AG__DEF_VSUM16_AVX512(double, f64, _mm512_loadu_pd)
#define AG__DEF_VSUM16_AVX2(T, SFX, LOAD4) \
AG__TARGET_AVX2 static int64_t ag__vsum16_##SFX##_avx2(int64_t n, const T *x, double *c) { \
    __m256d c0 = _mm256_loadu_pd(c), c1 = _mm256_loadu_pd(c + 4), c2 = _mm256_loadu_pd(c + 8), c3 = _mm256_loadu_pd(c + 12); \
    int64_t i; \
    for (i = 0; i + 16 <= n; i += 16) { \
        c0 = _mm256_add_pd(c0, LOAD4(x + i)); c1 = _mm256_add_pd(c1, LOAD4(x + i + 4)); \
        c2 = _mm256_add_pd(c2, LOAD4(x + i + 8)); c3 = _mm256_add_pd(c3, LOAD4(x + i + 12)); \
    } \
    _mm256_storeu_pd(c, c0); _mm256_storeu_pd(c + 4, c1); _mm256_storeu_pd(c + 8, c2); _mm256_storeu_pd(c + 12, c3); \
    return i; \
}
AG__DEF_VSUM16_AVX2(float, f32, AG__LOAD4_F32)
AG__DEF_VSUM16_AVX2(double, f64, _mm256_loadu_pd)
#define AG__VSUM16(SFX, isa, n, x, c) ((isa) == AG__ISA_AVX512 ? ag__vsum16_##SFX##_avx512(n, x, c) : \
                                       (isa) == AG__ISA_AVX2 ? ag__vsum16_##SFX##_avx2(n, x, c) : 0)
#else
#define AG__VSUM16(SFX, isa, n, x, c) ((void)(isa), (void)(x), (void)(c), (int64_t)0)
#endif
#define AG__DEF_SUM_ROW(T, SFX) \
static double ag__sum_row_##SFX(int isa, int64_t n, const T *x, int64_t sx) { \
    double c[16] = {0}, s; \
    int64_t i = sx == 1 ? AG__VSUM16(SFX, isa, n, x, c) : 0; \
    int j; \
    for (; i + 16 <= n; i += 16) for (j = 0; j < 16; j++) c[j] += x[(i + j) * sx]; \
    for (s = AG__SUM_TREE(c); i < n; i++) s += x[i * sx]; \
    return s; \
}
AG__DEF_SUM_ROW(float, f32)
AG__DEF_SUM_ROW(double, f64)
#else
static float ag__sum_row_f32(int isa, int64_t n, const float *x, int64_t sx) {   /* one compensated chain */
    ag__acc t;
    int64_t i;
    (void)isa;
    ag__acc_init(&t, 0);
    for (i = 0; i < n; i++) ag__acc_add(&t, x[i * sx]);
    return t.s;
}
#endif
/* ag__reduce_row_f32, ag__reduce_row_f64: acc[i] op= x[i], the reduction row; acc stride 0
   when reducing along the row (the row's sum, as above, then added) */
#define AG__DEF_REDUCE(T, SFX) \
static void ag__reduce_row_##SFX(const void *kp, int64_t n, char **p, const int64_t *s) { \
    const ag__kern *k = (const ag__kern *)kp; \
    ag__acc *acc = (ag__acc *)(void *)p[0]; const T *x = (const T *)p[1]; \
    const int64_t sa = s[0], sx = s[1]; \
    int64_t i; \
    if (k->op == AG__OP_sum) { \
        if (sa == 0) ag__acc_add(acc, ag__sum_row_##SFX(k->isa, n, x, sx)); \
        else for (i = sa == 1 && sx == 1 ? AG__VACC_##SFX(k->isa, n, acc, x) : 0; i < n; i++) ag__acc_add(&acc[i * sa], x[i * sx]); \
    } else if (k->op == AG__OP_max) {   /* a NaN sticks; comparisons only between numbers (right under any flags) */ \
        for (i = 0; i < n; i++) { ag__accv v = x[i * sx], a = acc[i * sa].s; if (!ag__isnan(a) && (ag__isnan(v) || v > a)) acc[i * sa].s = v; } \
    } else { \
        for (i = 0; i < n; i++) { ag__accv v = x[i * sx], a = acc[i * sa].s; if (!ag__isnan(a) && (ag__isnan(v) || v < a)) acc[i * sa].s = v; } \
    } \
}

/* ag__softmax_f32, ag__softmax_f64: y = softmax or log_softmax of x along the middle dim of
   [outer, n, inner] (contiguous); F32 with the library's own exp and log (>>vmath), so that
   cross-entropy gives the same bits on every platform; F64 with libm. F32 rows take their exps
   from the kernel set's vector math (AG__SOFTMAX_VEXP: the same bits). Along the last dim
   (inner = 1) the exps go in place and their sum is any row's (ag__sum_row: 16 chains, the same
   bits on every set); along another, AG__SOFTMAX_COLS columns at a time, row by row of them
   (contiguous loads), each column's sum added in the order of its n values. */
#define AG__SOFTMAX_COLS 32   /* its buffers: 640 bytes of stack in F32, 1 KB in F64 */
#define AG__SOFTMAX_EXPF(v) ag__sf_exp_v(v)
#define AG__SOFTMAX_LOGF(sum) ag__sf_log_v((float)(sum))
static bool ag__softmax_vexp_f32(int isa, ag__vmath_fn vexp, int64_t n, float *e, const float *x, float m0, const float *mx) {   /* e[j] = exp(x[j] - (mx ? mx[j] : m0)) */
    int64_t j;
    if (!vexp) return false;
    if (mx) for (j = 0; j < n; j++) e[j] = x[j] - mx[j];
    else for (j = ag__vunary_f32(isa, AG__OP_add_scalar, n, e, 1, x, 1, -(double)m0); j < n; j++) e[j] = x[j] - m0;   /* x + (-m0) is x - m0 */
    vexp(n, e, e);
    return true;
}
#define AG__SOFTMAX_VFN_F32(isa) ag__vmath_get_f32(isa, AG__OP_exp)
#define AG__SOFTMAX_VFN_F64(isa) ((void)(isa), (ag__vmath_fn)NULL)
#define AG__SOFTMAX_VEXP_F32(isa, vexp, n, e, x, m0, mx) ag__softmax_vexp_f32(isa, vexp, n, e, x, m0, mx)
#define AG__SOFTMAX_VEXP_F64(isa, vexp, n, e, x, m0, mx) ((void)(isa), (void)(vexp), false)
#define AG__DEF_SOFTMAX(T, SFX, EXP, LOG, VFN, VEXP) \
AG__NOINLINE static T ag__row_max_##SFX(const T *x, int64_t n) {   /* max by v > max; out of line: inlined, gcc kept the max in memory (live across the calls below) */ \
    T mx = x[0]; \
    int64_t j; \
    for (j = 1; j < n; j++) if (x[j] > mx) mx = x[j]; \
    return mx; \
} \
AG__EXACT static void ag__softmax_exps_##SFX(int isa, ag__vmath_fn vexp, int64_t n, T *e, const T *x, T m0, const T *mx) { \
    int64_t j;   /* e[j] = exp(x[j] - (mx ? mx[j] : m0)): the set's vector math where it has it, else EXP */ \
    if (VEXP(isa, vexp, n, e, x, m0, mx)) return; \
    if (mx) for (j = 0; j < n; j++) e[j] = EXP(x[j] - mx[j]); \
    else for (j = 0; j < n; j++) e[j] = EXP(x[j] - m0); \
} \
AG__EXACT static void ag__softmax_##SFX(int isa, const T *x, T *y, int64_t outer, int64_t n, int64_t inner, bool log_out) { \
    T e[AG__SOFTMAX_COLS], mx[AG__SOFTMAX_COLS], w[AG__SOFTMAX_COLS]; \
    ag__acc sum[AG__SOFTMAX_COLS]; \
    ag__vmath_fn vexp = VFN(isa); \
    int64_t o, c0, c, j, m; \
    for (o = 0; o < outer; o++) { \
        if (inner == 1) {   /* one row: y = exp(x - mx) in place (a vector at a time where the set has them), summed as any row (ag__sum_row) */ \
            const T *xr = x + o * n; T *yr = y + o * n, m0 = ag__row_max_##SFX(xr, n); \
            ag__accv s1; \
            ag__softmax_exps_##SFX(isa, vexp, n, yr, xr, m0, NULL); \
            s1 = ag__sum_row_##SFX(isa, n, yr, 1); \
            if (log_out) { T ls = (T)LOG(s1); for (j = 0; j < n; j++) yr[j] = (xr[j] - m0) - ls; } \
            else {   /* y *= 1 / sum: the set's vectors (ag__vunary: mul_scalar), then the tail */ \
                T inv = (T)((ag__accv)1 / s1); \
                for (j = ag__vunary_##SFX(isa, AG__OP_mul_scalar, n, yr, 1, yr, 1, inv); j < n; j++) yr[j] *= inv; \
            } \
            continue; \
        } \
        for (c0 = 0; c0 < inner; c0 += m) {   /* columns c0 .. c0 + m of x[o] as [n, inner] */ \
            const T *xb = x + o * n * inner + c0; T *yb = y + o * n * inner + c0; \
            m = inner - c0 < AG__SOFTMAX_COLS ? inner - c0 : AG__SOFTMAX_COLS; \
            for (c = 0; c < m; c++) { mx[c] = xb[c]; ag__acc_init(&sum[c], 0); } \
            for (j = 1; j < n; j++) for (c = 0; c < m; c++) if (xb[j * inner + c] > mx[c]) mx[c] = xb[j * inner + c]; \
            for (j = 0; j < n; j++) {   /* sum[c] += exp(x[j, c] - mx[c]) */ \
                ag__softmax_exps_##SFX(isa, vexp, m, e, xb + j * inner, 0, mx); \
                for (c = 0; c < m; c++) ag__acc_add(&sum[c], e[c]); \
            } \
            if (log_out) {   /* y = (x - mx) - log(sum) */ \
                for (c = 0; c < m; c++) w[c] = (T)LOG(sum[c].s); \
                for (j = 0; j < n; j++) for (c = 0; c < m; c++) yb[j * inner + c] = (xb[j * inner + c] - mx[c]) - w[c]; \
                continue; \
            } \
            for (c = 0; c < m; c++) w[c] = (T)((ag__accv)1 / sum[c].s); \
            for (j = 0; j < n; j++) {   /* y = exp(x - mx) / sum, the exps again */ \
                ag__softmax_exps_##SFX(isa, vexp, m, e, xb + j * inner, 0, mx); \
                for (c = 0; c < m; c++) yb[j * inner + c] = e[c] * w[c]; \
            } \
        } \
    } \
}

/* ag__copy_row_<dst>_<src> (f32_f32, f32_f64, f64_f32, f64_f64): dst[i] = src[i] with dtype conversion
   (dense rows of one dtype: memmove, which is what the loop does at any overlap but a forward one) */
#define AG__DEF_COPY(TD, TS, SFX) \
static void ag__copy_row_##SFX(const void *kp, int64_t n, char **p, const int64_t *s) { \
    TD *y = (TD *)p[0]; const TS *x = (const TS *)p[1]; int64_t i; (void)kp; \
    if (sizeof(TD) == sizeof(TS) && s[0] == 1 && s[1] == 1 && (y <= (const TD *)(const void *)x || y >= (const TD *)(const void *)(x + n))) { \
        memmove(y, x, sizeof(TD) * (size_t)n); \
        return; \
    } \
    for (i = 0; i < n; i++) y[i * s[0]] = (TD)x[i * s[1]]; \
}

static int ag__bw_none(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { (void)y; (void)g; (void)gin; return 0; }

#define AG__VACC_f32(isa, n, acc, x) ag__vacc_f32(isa, n, acc, x)
#define AG__VACC_f64(isa, n, acc, x) 0
AG__DEF_REDUCE(float, f32)
AG__F64(AG__DEF_REDUCE(double, f64))
AG__DEF_SOFTMAX(float, f32, AG__SOFTMAX_EXPF, AG__SOFTMAX_LOGF, AG__SOFTMAX_VFN_F32, AG__SOFTMAX_VEXP_F32)
AG__F64(AG__DEF_SOFTMAX(double, f64, exp, log, AG__SOFTMAX_VFN_F64, AG__SOFTMAX_VEXP_F64))
AG__DEF_COPY(float, float, f32_f32)
AG__F64(AG__DEF_COPY(float, double, f32_f64))
AG__F64(AG__DEF_COPY(double, float, f64_f32))
AG__F64(AG__DEF_COPY(double, double, f64_f64))

/* ==== >>gemm: matrix products ====
   C[M,N] = A[M,K] @ B[K,N] for any strides of A and B (transposes are read in
   place) into a dense C. The GotoBLAS/BLIS structure: for each block of kc
   steps of K, a register-blocked micro-kernel computes each MR x NR tile of C
   with kc fused multiply-adds per element. The micro-kernel reads A through
   strides and B through a row stride, so an operand is packed into panels only
   when its layout or size asks for it: B when its rows are not contiguous (W^T
   in linear) or it is large, A when it is large; the ragged last column panel
   of B too where the set's kernel reads full vectors only (AVX-512's and
   AVX2's read and write a ragged edge through masks). conv2d's operand made of its input's
   windows is built from the input a tile at a time (ag__gemm_win: implicit
   im2col), never whole in memory. Every element of C is computed
   the same way whatever the tiling, so the result does not depend on the
   number of threads. Products of at most AG__GEMM_SMALL multiply-adds use a
   plain loop, and so do outer products (K = 1: one rounded multiply per
   element, the same bits on either path) too small to share out. */
#define AG__GEMM_SMALL 512
#define AG__GEMM_PACK_MIN (256 * 256)   /* elements of an operand block above which it is packed for cache locality */

/* C[MR, NR] = (C +) A[MR, kc] @ B[kc, NR]: A[r, p] = a[r ars + p acs], B[p, :] = b + p bs;
   only the first mv rows are read (the others repeat row 0) and stored */
typedef void (*ag__uk_fn)(int64_t kc, const void *a, int64_t ars, int64_t acs, int mv, const void *b, int64_t bs,
                          void *c, int64_t ldc, int acc, int nv);
typedef struct { ag__uk_fn uk; int mr, nr; int64_t kc, mc, nc; ag__uk_fn ukr; } ag__gemm_cfg;   /* ukr: the kernel for a ragged
                                                         edge nv < nr (NULL: uk through an edge buffer) */

/* micro-kernel rows: t = A[r, p] broadcast; C[r, 0:2W] += t * B[p, 0:2W] */
#define AG__UK_FMA(P, r) t = P##set(a##r[oa]); c##r##0 = P##madd(t, b0, c##r##0); c##r##1 = P##madd(t, b1, c##r##1);
#define AG__UK_OUT(P, W, r) if ((r) < mv) { \
    if (acc) { c##r##0 = P##add(c##r##0, P##loadu(c + (r) * ldc)); c##r##1 = P##add(c##r##1, P##loadu(c + (r) * ldc + (W))); } \
    P##storeu(c + (r) * ldc, c##r##0); P##storeu(c + (r) * ldc + (W), c##r##1); }
/* the 6 x 2W kernels' rows of A, B, C and 12 accumulators; their loop over kc steps, B's two vectors loaded by LOAD0, LOAD1 */
#define AG__UK_6x2V_BEGIN(P, T, V) \
    const T *a0 = (const T *)av, *a1 = a0 + (mv > 1) * ars, *a2 = a0 + (mv > 2) * 2 * ars; \
    const T *a3 = a0 + (mv > 3) * 3 * ars, *a4 = a0 + (mv > 4) * 4 * ars, *a5 = a0 + (mv > 5) * 5 * ars; \
    const T *b = (const T *)bv; \
    T *c = (T *)cv; \
    V c00 = P##zero(), c01 = P##zero(), c10 = P##zero(), c11 = P##zero(), c20 = P##zero(), c21 = P##zero(); \
    V c30 = P##zero(), c31 = P##zero(), c40 = P##zero(), c41 = P##zero(), c50 = P##zero(), c51 = P##zero(); \
    int64_t p, oa = 0;
#define AG__UK_6x2V_LOOP(P, V, LOAD0, LOAD1) \
    for (p = 0; p < kc; p++, oa += acs, b += bs) { \
        V b0 = LOAD0, b1 = LOAD1, t; \
        AG__UK_FMA(P, 0) AG__UK_FMA(P, 1) AG__UK_FMA(P, 2) AG__UK_FMA(P, 3) AG__UK_FMA(P, 4) AG__UK_FMA(P, 5) \
    }
/* C[6, 2W] in 12 vector accumulators, for every SIMD set: ag__uk_<t>_<set> */
#define AG__DEF_UK_6x2V(P, T, V, W, SET, TGT) \
TGT static void ag__uk_##SET(int64_t kc, const void *av, int64_t ars, int64_t acs, int mv, const void *bv, int64_t bs, \
                             void *cv, int64_t ldc, int acc, int nv) { \
    AG__UK_6x2V_BEGIN(P, T, V) \
    (void)nv; \
    AG__UK_6x2V_LOOP(P, V, P##loadu(b), P##loadu(b + (W))) \
    AG__UK_OUT(P, W, 0) AG__UK_OUT(P, W, 1) AG__UK_OUT(P, W, 2) AG__UK_OUT(P, W, 3) AG__UK_OUT(P, W, 4) AG__UK_OUT(P, W, 5) \
}
AG__SIMD_SETS(AG__DEF_UK_6x2V)

/* AVX-512's and AVX2's C[6, 2W] kernel for the ragged right edge (nv < 2W): ag__uk_<t>_<set>'s FMAs,
   with B's and C's last columns read and written through masks, so B is read in place and C
   directly, with no edge buffer; ag__ukr_<t>_avx512, ag__ukr_<t>_avx2 */
#define AG__UKR_OUT(P, W, r) if ((r) < mv) { \
    if (acc) { c##r##0 = P##add(c##r##0, P##load_part(c + (r) * ldc, n0)); c##r##1 = P##add(c##r##1, P##load_part(c + (r) * ldc + (W), n1)); } \
    P##store_part(c + (r) * ldc, c##r##0, n0); P##store_part(c + (r) * ldc + (W), c##r##1, n1); }
#define AG__DEF_UK_6x2V_RAGGED(P, T, V, W, SET, TGT) \
TGT static void ag__ukr_##SET(int64_t kc, const void *av, int64_t ars, int64_t acs, int mv, const void *bv, int64_t bs, \
                              void *cv, int64_t ldc, int acc, int nv) { \
    AG__UK_6x2V_BEGIN(P, T, V) \
    int64_t n0 = nv < (W) ? nv : (W), n1 = nv - n0; \
    AG__UK_6x2V_LOOP(P, V, P##load_part(b, n0), P##load_part(b + (W), n1)) \
    AG__UKR_OUT(P, W, 0) AG__UKR_OUT(P, W, 1) AG__UKR_OUT(P, W, 2) AG__UKR_OUT(P, W, 3) AG__UKR_OUT(P, W, 4) AG__UKR_OUT(P, W, 5) \
}
#ifdef AG__X86
AG__DEF_UK_6x2V_RAGGED(ag__avx512_, float, __m512, 16, f32_avx512, AG__TARGET_AVX512)
AG__F64(AG__DEF_UK_6x2V_RAGGED(ag__avx512d_, double, __m512d, 8, f64_avx512, AG__TARGET_AVX512))
AG__DEF_UK_6x2V_RAGGED(ag__avx2_, float, __m256, 8, f32_avx2, AG__TARGET_AVX2)
AG__F64(AG__DEF_UK_6x2V_RAGGED(ag__avx2d_, double, __m256d, 4, f64_avx2, AG__TARGET_AVX2))
#endif

/* C[8, nv] in 8 vector accumulators, nv <= W: AVX-512's kernel for narrow C (N <= 16 floats or 8
   doubles), where the 6 x 2W kernel would compute half its lanes for nothing. A ragged nv < W is
   read and written through masks, so B is read in place and C directly; ag__uk1_<t>_avx512 */
#define AG__UK1_FMA(P, r) c##r = P##madd(P##set(a##r[oa]), b0, c##r);
#define AG__UK1_OUT(P, W, r) if ((r) < mv) { \
    if (nv == (W)) { if (acc) c##r = P##add(c##r, P##loadu(c + (r) * ldc)); P##storeu(c + (r) * ldc, c##r); } \
    else { if (acc) c##r = P##add(c##r, P##load_part(c + (r) * ldc, nv)); P##store_part(c + (r) * ldc, c##r, nv); } }
#define AG__UK1_LOOP(P, V, LOAD) \
    for (p = 0; p < kc; p++, oa += acs, b += bs) { \
        V b0 = LOAD; \
        AG__UK1_FMA(P, 0) AG__UK1_FMA(P, 1) AG__UK1_FMA(P, 2) AG__UK1_FMA(P, 3) AG__UK1_FMA(P, 4) AG__UK1_FMA(P, 5) AG__UK1_FMA(P, 6) AG__UK1_FMA(P, 7) \
    }
#define AG__DEF_UK_8x1V(P, T, V, W, SET, TGT) \
TGT static void ag__uk1_##SET(int64_t kc, const void *av, int64_t ars, int64_t acs, int mv, const void *bv, int64_t bs, \
                              void *cv, int64_t ldc, int acc, int nv) { \
    const T *a0 = (const T *)av, *a1 = a0 + (mv > 1) * ars, *a2 = a0 + (mv > 2) * 2 * ars, *a3 = a0 + (mv > 3) * 3 * ars; \
    const T *a4 = a0 + (mv > 4) * 4 * ars, *a5 = a0 + (mv > 5) * 5 * ars, *a6 = a0 + (mv > 6) * 6 * ars, *a7 = a0 + (mv > 7) * 7 * ars; \
    const T *b = (const T *)bv; \
    T *c = (T *)cv; \
    V c0 = P##zero(), c1 = P##zero(), c2 = P##zero(), c3 = P##zero(), c4 = P##zero(), c5 = P##zero(), c6 = P##zero(), c7 = P##zero(); \
    int64_t p, oa = 0; \
    if (nv == (W)) AG__UK1_LOOP(P, V, P##loadu(b)) else AG__UK1_LOOP(P, V, P##load_part(b, nv)) \
    AG__UK1_OUT(P, W, 0) AG__UK1_OUT(P, W, 1) AG__UK1_OUT(P, W, 2) AG__UK1_OUT(P, W, 3) \
    AG__UK1_OUT(P, W, 4) AG__UK1_OUT(P, W, 5) AG__UK1_OUT(P, W, 6) AG__UK1_OUT(P, W, 7) \
}
#ifdef AG__X86
AG__DEF_UK_8x1V(ag__avx512_, float, __m512, 16, f32_avx512, AG__TARGET_AVX512)
AG__F64(AG__DEF_UK_8x1V(ag__avx512d_, double, __m512d, 8, f64_avx512, AG__TARGET_AVX512))
#endif

/* ag__uk_f32_scalar, ag__uk_f64_scalar: the portable micro-kernel, C[4, 4] (the compiler vectorises
   its rows where it can); a multiply and an add per step, never fused (AG__EXACT), as SIMD128's */
#define AG__DEF_UK_SCALAR(T, SFX) \
AG__EXACT static void ag__uk_##SFX##_scalar(int64_t kc, const void *av, int64_t ars, int64_t acs, int mv, const void *bv, int64_t bs, \
                                  void *cv, int64_t ldc, int acc, int nv) { \
    const T *a = (const T *)av, *b = (const T *)bv; \
    T *c = (T *)cv, s[4][4]; \
    int64_t p; int i, j; \
    (void)nv; \
    for (i = 0; i < 4; i++) for (j = 0; j < 4; j++) s[i][j] = 0; \
    for (p = 0; p < kc; p++, b += bs) \
        for (i = 0; i < 4; i++) { T av_ = a[(i < mv ? i : 0) * ars + p * acs]; for (j = 0; j < 4; j++) s[i][j] += av_ * b[j]; } \
    for (i = 0; i < mv; i++) for (j = 0; j < 4; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + s[i][j] : s[i][j]; \
}
AG__DEF_UK_SCALAR(float, f32)
AG__F64(AG__DEF_UK_SCALAR(double, f64))

/* kc: a B micro-panel (kc x NR) stays in L1; mc: an A block (mc x kc) stays in L2.
   isa + AG__GEMM_NARROW: the set's kernel for C at most one vector wide (AVX-512 has one) */
#define AG__GEMM_NARROW 100
static const ag__gemm_cfg *ag__gemm_config(int isa, int dtype) {
    static const ag__gemm_cfg scalar32 = { ag__uk_f32_scalar, 4, 4, 256, 64, 256, NULL };
    AG__F64(static const ag__gemm_cfg scalar64 = { ag__uk_f64_scalar, 4, 4, 256, 64, 256, NULL };)
#ifdef AG__X86
    static const ag__gemm_cfg avx512_32 = { ag__uk_f32_avx512, 6, 32, 128, 120, 512, ag__ukr_f32_avx512 };
    AG__F64(static const ag__gemm_cfg avx512_64 = { ag__uk_f64_avx512, 6, 16, 256, 120, 512, ag__ukr_f64_avx512 };)
    static const ag__gemm_cfg avx512n_32 = { ag__uk1_f32_avx512, 8, 16, 256, 120, 512, ag__uk1_f32_avx512 };   /* narrow C */
    AG__F64(static const ag__gemm_cfg avx512n_64 = { ag__uk1_f64_avx512, 8, 8, 256, 120, 512, ag__uk1_f64_avx512 };)
    static const ag__gemm_cfg avx2_32 = { ag__uk_f32_avx2, 6, 16, 256, 120, 512, ag__ukr_f32_avx2 };
    AG__F64(static const ag__gemm_cfg avx2_64 = { ag__uk_f64_avx2, 6, 8, 256, 120, 512, ag__ukr_f64_avx2 };)
    if (isa == AG__ISA_AVX512) return AG__PICK(dtype, &avx512_32, &avx512_64);
    if (isa == AG__ISA_AVX512 + AG__GEMM_NARROW) return AG__PICK(dtype, &avx512n_32, &avx512n_64);
    if (isa == AG__ISA_AVX2) return AG__PICK(dtype, &avx2_32, &avx2_64);
#endif
#ifdef AG__NEON
    static const ag__gemm_cfg neon32 = { ag__uk_f32_neon, 6, 8, 256, 120, 512, NULL };
    AG__F64(static const ag__gemm_cfg neon64 = { ag__uk_f64_neon, 6, 4, 256, 120, 512, NULL };)
    if (isa == AG__ISA_NEON) return AG__PICK(dtype, &neon32, &neon64);
#endif
#ifdef AG__WASM
    static const ag__gemm_cfg simd128_32 = { ag__uk_f32_simd128, 6, 8, 256, 120, 512, NULL };
    AG__F64(static const ag__gemm_cfg simd128_64 = { ag__uk_f64_simd128, 6, 4, 256, 120, 512, NULL };)
    if (isa == AG__ISA_SIMD128) return AG__PICK(dtype, &simd128_32, &simd128_64);
#endif
    (void)isa;
    return AG__PICK(dtype, &scalar32, &scalar64);
}

/* ag__pack_f32, ag__pack_f64: packs panels [q0, q1) of w rows of X, X[i, p] = src[i rs + p cs], steps [p0, p0 + kb):
   dst panel q, step p, lane r = X[q w + r, p0 + p] (0 past the last row). Packs A (X = A) and
   B (X = B^T) alike. When X's rows are dense along i (B row-major) each step p is read as one
   contiguous run across all the panels; otherwise (A row-major, a transposing copy) row by
   row, or on x86 eight rows at a time as 8 x 8 blocks transposed in registers (F32, steps dense). */
#ifdef AG__X86
/* d[p w + r] = s[r rs + p], r < 8, for the whole 8-step blocks of [0, kb); returns the steps done */
AG__TARGET_AVX2 static int64_t ag__pack8_f32_avx2(float *d, const float *s, int64_t rs, int64_t kb, int64_t w) {
    int64_t p;
    for (p = 0; p + 8 <= kb; p += 8) {
        __m256 r0 = _mm256_loadu_ps(s + p), r1 = _mm256_loadu_ps(s + rs + p), r2 = _mm256_loadu_ps(s + 2 * rs + p);
        __m256 r3 = _mm256_loadu_ps(s + 3 * rs + p), r4 = _mm256_loadu_ps(s + 4 * rs + p), r5 = _mm256_loadu_ps(s + 5 * rs + p);
        __m256 r6 = _mm256_loadu_ps(s + 6 * rs + p), r7 = _mm256_loadu_ps(s + 7 * rs + p);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3);
        __m256 t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
        __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);   /* steps 0|4 and 1|5 of rows 0-3 */
        __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);   /* steps 2|6 and 3|7 */
        __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);   /* the same for rows 4-7 */
        __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        _mm256_storeu_ps(d + (p + 0) * w, _mm256_permute2f128_ps(u0, u4, 0x20));
        _mm256_storeu_ps(d + (p + 1) * w, _mm256_permute2f128_ps(u1, u5, 0x20));
        _mm256_storeu_ps(d + (p + 2) * w, _mm256_permute2f128_ps(u2, u6, 0x20));
        _mm256_storeu_ps(d + (p + 3) * w, _mm256_permute2f128_ps(u3, u7, 0x20));
        _mm256_storeu_ps(d + (p + 4) * w, _mm256_permute2f128_ps(u0, u4, 0x31));
        _mm256_storeu_ps(d + (p + 5) * w, _mm256_permute2f128_ps(u1, u5, 0x31));
        _mm256_storeu_ps(d + (p + 6) * w, _mm256_permute2f128_ps(u2, u6, 0x31));
        _mm256_storeu_ps(d + (p + 7) * w, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
    return p;
}
#define AG__PACK8_f32(isa, d, s, rs, kb, w) ((isa) == AG__ISA_AVX2 || (isa) == AG__ISA_AVX512 ? ag__pack8_f32_avx2(d, s, rs, kb, w) : 0)
#else
#define AG__PACK8_f32(isa, d, s, rs, kb, w) ((void)(isa), 0)
#endif
#define AG__PACK8_f64(isa, d, s, rs, kb, w) ((void)(isa), 0)
#define AG__PACK_ROW(W) for (q = q0; q < qf; q++) { int r_; for (r_ = 0; r_ < (W); r_++) d[(size_t)(q - q0) * panel + r_] = s[q * (W) + r_]; }
#define AG__DEF_PACK(T, SFX) \
static void ag__pack_##SFX(int isa, T *dst, const T *src, int64_t rs, int64_t cs, int64_t rows, int64_t q0, int64_t q1, \
                           int64_t p0, int64_t kb, int w) { \
    int64_t p, q, i, i0 = q0 * w, i1 = q1 * w < rows ? q1 * w : rows, r, pv; \
    size_t panel = (size_t)(w * kb); \
    src += p0 * cs; \
    if (rs == 1) { \
        int64_t qf = q0 + (i1 - i0) / w;   /* panels [q0, qf) are full */ \
        for (p = 0; p < kb; p++) { \
            const T *s = src + p * cs; \
            T *d = dst + p * w; \
            if (w == 32) { AG__PACK_ROW(32) } else if (w == 16) { AG__PACK_ROW(16) } \
            else if (w == 8) { AG__PACK_ROW(8) } else if (w == 4) { AG__PACK_ROW(4) } \
            else for (q = q0; q < qf; q++) { int r_; for (r_ = 0; r_ < w; r_++) d[(size_t)(q - q0) * panel + r_] = s[q * w + r_]; } \
            for (i = qf * w; i < i1; i++) d[(size_t)(qf - q0) * panel + (size_t)(i - qf * w)] = s[i]; \
        } \
    } else { \
        for (i = i0; i < i1; i += r) { \
            T *d = dst + (size_t)(i / w - q0) * panel + i % w; \
            const T *s = src + i * rs; \
            pv = cs == 1 && w % 8 == 0 && i % 8 == 0 && i + 8 <= i1 ? AG__PACK8_##SFX(isa, d, s, rs, kb, w) : 0; \
            for (r = 0; r < (pv ? 8 : 1); r++)   /* what the 8 x 8 blocks left, or one row */ \
                for (p = pv; p < kb; p++) d[p * w + r] = s[r * rs + p * cs]; \
        } \
    } \
    for (i = i1; i < q1 * w; i++)   /* the ragged last panel: zeros past the last row */ \
        for (q = i / w - q0, p = 0; p < kb; p++) dst[(size_t)q * panel + (size_t)(p * w + i % w)] = 0; \
}
AG__DEF_PACK(float, f32)
AG__F64(AG__DEF_PACK(double, f64))

/* C[i, 0:j1] = sum_p A[i, p] B[p, 0:j1] for the whole vectors of C's rows (B's rows dense, C's N
   apart): a multiply, then an add, per step from 0, as the plain loop below does (the same bits);
   four rows at a time, whose four chains of adds overlap; returns j1 */
#define AG__DEF_VSMALL(P, T, V, W, SET, TGT) \
TGT AG__EXACT static int64_t ag__vsmall_##SET(int64_t M, int64_t N, int64_t n, int64_t K, T *C, const T *A, int64_t rsa, int64_t csa, \
                                             const T *b, int64_t rsb) { \
    int64_t i, j, p; \
    for (j = 0; j + (W) <= n; j += (W)) { \
        for (i = 0; i + 4 <= M; i += 4) { \
            const T *a0 = A + i * rsa, *a1 = a0 + rsa, *a2 = a1 + rsa, *a3 = a2 + rsa; \
            V s0 = P##zero(), s1 = P##zero(), s2 = P##zero(), s3 = P##zero(); \
            for (p = 0; p < K; p++) { \
                V bv = P##loadu(b + p * rsb + j); \
                s0 = P##add(s0, P##mul(P##set(a0[p * csa]), bv)); s1 = P##add(s1, P##mul(P##set(a1[p * csa]), bv)); \
                s2 = P##add(s2, P##mul(P##set(a2[p * csa]), bv)); s3 = P##add(s3, P##mul(P##set(a3[p * csa]), bv)); \
            } \
            P##storeu(C + i * N + j, s0); P##storeu(C + (i + 1) * N + j, s1); \
            P##storeu(C + (i + 2) * N + j, s2); P##storeu(C + (i + 3) * N + j, s3); \
        } \
        for (; i < M; i++) { \
            V s0 = P##zero(); \
            for (p = 0; p < K; p++) s0 = P##add(s0, P##mul(P##set(A[i * rsa + p * csa]), P##loadu(b + p * rsb + j))); \
            P##storeu(C + i * N + j, s0); \
        } \
    } \
    return j; \
}
AG__SIMD_SETS(AG__DEF_VSMALL)
/* the columns [0, N) of C: AVX-512's vectors, then AVX2's on what is left */
#define AG__DEF_VSMALL_DISPATCH(T, SFX) \
static int64_t ag__vsmall_##SFX(int isa, int64_t M, int64_t N, int64_t K, T *C, const T *A, int64_t rsa, int64_t csa, const T *B, int64_t rsb) { \
    int64_t j = 0; \
    switch (isa) { \
    AG__IF_X86(case AG__ISA_AVX512: j = ag__vsmall_##SFX##_avx512(M, N, N, K, C, A, rsa, csa, B, rsb); \
               return j + ag__vsmall_##SFX##_avx2(M, N, N - j, K, C + j, A, rsa, csa, B + j, rsb);) \
    AG__IF_X86(case AG__ISA_AVX2: return ag__vsmall_##SFX##_avx2(M, N, N, K, C, A, rsa, csa, B, rsb);) \
    AG__IF_NEON(case AG__ISA_NEON: return ag__vsmall_##SFX##_neon(M, N, N, K, C, A, rsa, csa, B, rsb);) \
    AG__IF_WASM(case AG__ISA_SIMD128: return ag__vsmall_##SFX##_simd128(M, N, N, K, C, A, rsa, csa, B, rsb);) \
    default: (void)M; (void)N; (void)K; (void)C; (void)A; (void)rsa; (void)csa; (void)B; (void)rsb; return j; \
    } \
}
AG__DEF_VSMALL_DISPATCH(float, f32)
AG__F64(AG__DEF_VSMALL_DISPATCH(double, f64))

/* ag__gemm_small_f32, ag__gemm_small_f64: the plain loop for small products (each row's whole
   vectors through the kernel set when B's rows are dense) */
#define AG__DEF_GEMM_SMALL(T, SFX) \
AG__EXACT static void ag__gemm_small_##SFX(int isa, int64_t M, int64_t N, int64_t K, const T *A, int64_t rsa, int64_t csa, \
                                 const T *B, int64_t rsb, int64_t csb, T *C) { \
    int64_t i, j, p, j0; \
    if (rsb == 1 && csa == 1 && csb != 1) {   /* B's columns and A's rows contiguous (x @ W^T): dot products, four chains */ \
        for (i = 0; i < M; i++) \
            for (j = 0; j < N; j++) { \
                const T *a = A + i * rsa, *b = B + j * csb; \
                T s0 = 0, s1 = 0, s2 = 0, s3 = 0; \
                for (p = 0; p + 4 <= K; p += 4) { s0 += a[p] * b[p]; s1 += a[p + 1] * b[p + 1]; s2 += a[p + 2] * b[p + 2]; s3 += a[p + 3] * b[p + 3]; } \
                for (; p < K; p++) s0 += a[p] * b[p]; \
                C[i * N + j] = (s0 + s1) + (s2 + s3); \
            } \
        return; \
    } \
    j0 = csb == 1 ? ag__vsmall_##SFX(isa, M, N, K, C, A, rsa, csa, B, rsb) : 0; \
    if (j0 == N) return;   /* (else the loops below walk M K empty rows: most of an 8 x 8 product's time) */ \
    for (i = 0; i < M; i++) { \
        T *c = C + i * N; \
        for (j = j0; j < N; j++) c[j] = 0; \
        for (p = 0; p < K; p++) { \
            const T av = A[i * rsa + p * csa], *b = B + p * rsb; \
            for (j = j0; j < N; j++) c[j] += av * b[j * csb]; \
        } \
    } \
}
AG__DEF_GEMM_SMALL(float, f32)
AG__F64(AG__DEF_GEMM_SMALL(double, f64))

/* How a product is shared out. One thread, or a product of fewer than AG__GEMM_SLAB_MIN
   multiply-adds: one slab, the whole of C, on the calling thread. Several threads and a
   mid-sized product: C is cut into one slab per thread (rows, or columns of B's panels) and
   each thread walks every k-block of its slab with its own packed panels: no barrier until the
   end. From AG__GEMM_SHARED_MIN the threads share each k-block's packed panels instead (a
   barrier after packing and after the tiles), which packs each operand once. */
#ifndef AG__GEMM_SLAB_MIN
#define AG__GEMM_SLAB_MIN ((int64_t)1 << 17)
#endif
#ifndef AG__GEMM_SHARED_MIN
#define AG__GEMM_SHARED_MIN ((int64_t)1 << 27)
#endif
#define AG__GEMM_MAX_SLABS 16
#define AG__GEMM_SHARE_MAX ((size_t)1 << 20)   /* bytes of B packed whole for row slabs to share, at most */

/* an operand made of the windows of conv2d's input x, never whole in memory (implicit im2col): with
   cols = unfold(x) ([A K, B OH OW] for x as [A, B, H, W], >>ops), B[p, q] = cols[r0 + p, q], or
   A[i, p] = cols[r0 + i, p] (a_side; the argument A is then unused) */
struct ag__win;
typedef struct { const struct ag__win *g; const void *x; int64_t xs[4], r0; bool a_side; } ag__gemm_win;
typedef struct {
    int64_t i0, i1, j0, j1;   /* C[i0:i1, j0:j1] */
    char *Ap, *Bp;            /* its packed A rows (from i0) and B panels (from b0), or NULL */
    int64_t b0, b1;           /* B's column panels [b0, b1) are packed; those before b0 are read in place */
    int64_t bld;              /* > 0: Bp holds B's columns from panel b0 as kb rows of bld (made from x), not panels */
    int64_t ald, arow;        /* > 0: Ap holds A's rows from arow as rows of ald (made from x), not panels */
} ag__gemm_slab;
typedef struct {
    const ag__gemm_cfg *cfg;
    int dtype, isa;
    size_t es;
    int64_t M, N, K, kc, tile_n;
    const char *A, *B;
    int64_t rsa, csa, rsb, csb;
    char *C, *T;         /* T: NULL, or where C^T goes (C is then scratch) */
    int64_t bpack0;      /* the first column panel of B that is packed (all, or just the ragged last one) */
    int nslabs;
    ag__gemm_slab slab[AG__GEMM_MAX_SLABS];
    char *Bwhole;        /* row slabs: B's packed panels for every k-block, shared (or NULL) */
    int64_t pc, kb, ntiles;   /* the shared schedule: the current k-block, tiles of C per row of tiles */
    const ag__gemm_win *win;  /* an operand made of conv2d's windows of an input (or NULL), built block by block from it */
} ag__gemm_job;
/* dst[r ld + c] = cols[R0 + r, c0 + c] for r < nrows, c < ncols, zero up to ld (>>ops, unfold) */
static void ag__win_rect(const ag__gemm_job *j, char *dst, int64_t ld, int64_t R0, int64_t nrows, int64_t c0, int64_t ncols);

/* packs A's row panels [q0, q1) (X = A) or B's column panels [q0, q1) (X = B^T) at k-block [pc, pc + kb) */
static void ag__gemm_pack(const ag__gemm_job *j, bool is_a, char *dst, int64_t q0, int64_t q1, int64_t pc, int64_t kb) {
    int w = is_a ? j->cfg->mr : j->cfg->nr;
    const char *src = is_a ? j->A : j->B;
    int64_t rs = is_a ? j->rsa : j->csb, cs = is_a ? j->csa : j->rsb, rows = is_a ? j->M : j->N;
    if (j->dtype == AG_F32) ag__pack_f32(j->isa, (float *)(void *)dst, (const float *)(const void *)src, rs, cs, rows, q0, q1, pc, kb, w);
    AG__F64(else ag__pack_f64(j->isa, (double *)(void *)dst, (const double *)(const void *)src, rs, cs, rows, q0, q1, pc, kb, w);)
}

/* C[r, c] (+)= edge[r, c] for the mv x nv corner of a micro-tile that C holds */
#define AG__GEMM_EDGE(T) { \
    T *d = (T *)(void *)cp; const T *e = (const T *)(const void *)edge; \
    for (r = 0; r < mv; r++, d += j->N, e += g->nr) \
        if (acc) for (c = 0; c < nv; c++) d[c] += e[c]; else for (c = 0; c < nv; c++) d[c] = e[c]; \
}
/* every micro-tile of C[i0:i1, j0:j1] at k-block [pc, pc + kb); s says where the packed panels are */
static void ag__gemm_block(const ag__gemm_job *j, const ag__gemm_slab *s, int64_t pc, int64_t kb,
                           int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    const ag__gemm_cfg *g = j->cfg;
    int64_t es = (int64_t)j->es, ii, jj;
    int acc = pc > 0;
    double edge[6 * 32];   /* one micro-tile, for the ragged right edge */
    for (jj = j0; jj < j1; jj += g->nr) {
        int64_t panel = jj / g->nr, bs;
        const char *b;
        int nv = (int)(j->N - jj < g->nr ? j->N - jj : g->nr);
        ag__uk_fn uk = nv == g->nr ? g->uk : g->ukr;   /* NULL: a ragged edge through the edge buffer */
        if (panel >= s->b0) { b = s->Bp + (size_t)((panel - s->b0) * g->nr * (s->bld ? 1 : kb)) * j->es; bs = s->bld ? s->bld : g->nr; }
        else { b = j->B + (pc * j->rsb + jj) * es; bs = j->rsb; }
        for (ii = i0; ii < i1; ii += g->mr) {
            const char *a;
            int64_t ars, acs;
            int mv = (int)(j->M - ii < g->mr ? j->M - ii : g->mr), r, c;
            char *cp = j->C + (ii * j->N + jj) * es;
            if (s->ald) { a = s->Ap + (size_t)((ii - s->arow) * s->ald) * j->es; ars = s->ald; acs = 1; }
            else if (s->Ap) { a = s->Ap + (size_t)((ii - s->i0) * kb) * j->es; ars = 1; acs = g->mr; }
            else { a = j->A + (ii * j->rsa + pc * j->csa) * es; ars = j->rsa; acs = j->csa; }
            if (uk) { uk(kb, a, ars, acs, mv, b, bs, cp, j->N, acc, nv); continue; }
            g->uk(kb, a, ars, acs, mv, b, bs, edge, g->nr, 0, g->nr);   /* the ragged right edge */
            if (j->dtype == AG_F32) AG__GEMM_EDGE(float)
            else AG__GEMM_EDGE(double)
        }
    }
}

/* T[q, i] = C[i, q] for i in [i0, i1), q in [j0, j1): C [M, N] and T [N, M] dense, in 32 x 32 blocks
   (F32 on x86: 8 rows of C at a time through the packing's 8 x 8 register transpose) */
#define AG__TRANSPOSE_RECT(TY, SFX) { \
    const TY *c = (const TY *)(const void *)C; TY *t = (TY *)T; \
    for (ib = i0; ib < i1; ib += 32) \
        for (jb = j0; jb < j1; jb += 32) { \
            int64_t je = jb + 32 < j1 ? jb + 32 : j1, ie = ib + 32 < i1 ? ib + 32 : i1; \
            for (i = ib; i < ie; i += r) { \
                int64_t qv = i + 8 <= ie ? AG__PACK8_##SFX(isa, t + jb * M + i, c + i * N + jb, N, je - jb, M) : 0; \
                for (r = 0; r < (i + 8 <= ie ? 8 : 1); r++) \
                    for (q = jb + qv; q < je; q++) t[q * M + i + r] = c[(i + r) * N + q]; \
            } \
        } \
}
static void ag__transpose_rect(int isa, int dtype, const void *C, void *T, int64_t M, int64_t N, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    int64_t ib, jb, i, q, r;
    if (dtype == AG_F32) AG__TRANSPOSE_RECT(float, f32)
    AG__F64(else AG__TRANSPOSE_RECT(double, f64))
}
/* one slab, every k-block: pack its panels, then its tiles (mc rows by tile_n columns) */
static void ag__gemm_slab_task(void *arg, int t) {
    const ag__gemm_job *j = (const ag__gemm_job *)arg;
    const ag__gemm_cfg *g = j->cfg;
    ag__gemm_slab s = j->slab[t];
    int64_t pc, kb, ii, jj;
    for (pc = 0; pc < j->K; pc += j->kc) {
        kb = j->K - pc < j->kc ? j->K - pc : j->kc;
        if (j->win && j->win->a_side) {   /* A made from x, mc rows at a time, read in place as rows */
            if (s.Bp) ag__gemm_pack(j, false, s.Bp, s.b0, s.b1, pc, kb);
            for (ii = s.i0; ii < s.i1; ii += g->mc) {
                int64_t ie = ii + g->mc < s.i1 ? ii + g->mc : s.i1;
                s.arow = ii; s.ald = kb;
                ag__win_rect(j, s.Ap, kb, j->win->r0 + ii, ie - ii, pc, kb);
                for (jj = s.j0; jj < s.j1; jj += j->tile_n) ag__gemm_block(j, &s, pc, kb, ii, ie, jj, jj + j->tile_n < s.j1 ? jj + j->tile_n : s.j1);
            }
            continue;
        }
        if (s.Ap) ag__gemm_pack(j, true, s.Ap, s.i0 / g->mr, (s.i1 + g->mr - 1) / g->mr, pc, kb);
        if (j->win) {   /* B made from x a tile (tile_n columns) at a time, while it is in cache, as rows */
            for (jj = s.j0; jj < s.j1; jj += j->tile_n) {
                int64_t je = jj + j->tile_n < s.j1 ? jj + j->tile_n : s.j1;
                s.b0 = jj / g->nr;
                s.bld = (je - jj + g->nr - 1) / g->nr * g->nr;   /* B's rows [pc, pc + kb), columns [jj, je), zero to bld */
                ag__win_rect(j, s.Bp, s.bld, j->win->r0 + pc, kb, jj, je - jj);
                for (ii = s.i0; ii < s.i1; ii += g->mc) ag__gemm_block(j, &s, pc, kb, ii, ii + g->mc < s.i1 ? ii + g->mc : s.i1, jj, je);
            }
            continue;
        }
        if (j->Bwhole) s.Bp = j->Bwhole + (size_t)(pc * (s.b1 - s.b0) * g->nr) * j->es;   /* packed before the slabs */
        else if (s.Bp) ag__gemm_pack(j, false, s.Bp, s.b0, s.b1, pc, kb);
        for (ii = s.i0; ii < s.i1; ii += g->mc)
            for (jj = s.j0; jj < s.j1; jj += j->tile_n)
                ag__gemm_block(j, &s, pc, kb, ii, ii + g->mc < s.i1 ? ii + g->mc : s.i1, jj, jj + j->tile_n < s.j1 ? jj + j->tile_n : s.j1);
    }
    if (j->T) ag__transpose_rect(j->isa, j->dtype, j->C, j->T, j->M, j->N, s.i0, s.i1, s.j0, s.j1);   /* its part of C^T */
}
/* B's packed panels for every k-block at once, panel by panel (row slabs would each pack all of B) */
static void ag__gemm_prepack_task(void *arg, int q) {
    const ag__gemm_job *j = (const ag__gemm_job *)arg;
    const ag__gemm_slab *s = &j->slab[0];
    int64_t pc, kb, npan = s->b1 - s->b0, panel = s->b0 + q;
    for (pc = 0; pc < j->K; pc += j->kc) {
        kb = j->K - pc < j->kc ? j->K - pc : j->kc;
        ag__gemm_pack(j, false, j->Bwhole + (size_t)((pc * npan + q * kb) * j->cfg->nr) * j->es, panel, panel + 1, pc, kb);
    }
}

/* the shared schedule: packing tasks of AG__PACK_CHUNK panels, then one task per tile, per k-block */
#define AG__PACK_CHUNK 16
static void ag__gemm_pack_task(void *arg, int i, bool is_a) {
    const ag__gemm_job *j = (const ag__gemm_job *)arg;
    const ag__gemm_slab *s = &j->slab[0];
    int w = is_a ? j->cfg->mr : j->cfg->nr;
    int64_t first = is_a ? 0 : s->b0, last = is_a ? (j->M + w - 1) / w : s->b1;
    int64_t q0 = first + (int64_t)i * AG__PACK_CHUNK, q1 = q0 + AG__PACK_CHUNK < last ? q0 + AG__PACK_CHUNK : last;
    ag__gemm_pack(j, is_a, (is_a ? s->Ap : s->Bp) + (size_t)((q0 - first) * w * j->kb) * j->es, q0, q1, j->pc, j->kb);
}
static void ag__gemm_pack_a_task(void *arg, int i) { ag__gemm_pack_task(arg, i, true); }
static void ag__gemm_pack_b_task(void *arg, int i) { ag__gemm_pack_task(arg, i, false); }
static void ag__gemm_tile_task(void *arg, int t) {
    const ag__gemm_job *j = (const ag__gemm_job *)arg;
    int64_t ti = t / j->ntiles, tj = t % j->ntiles, mc = j->cfg->mc;
    ag__gemm_block(j, &j->slab[0], j->pc, j->kb, ti * mc, (ti + 1) * mc < j->M ? (ti + 1) * mc : j->M,
                   tj * j->tile_n, (tj + 1) * j->tile_n < j->N ? (tj + 1) * j->tile_n : j->N);
}
static void ag__parallel(ag_ctx *ctx, bool serial, void (*task)(void *, int), void *arg, int n);

static void ag__gemm_transpose_task(void *arg, int t) {   /* rows [32 t, 32 t + 32) of C into T */
    const ag__gemm_job *j = (const ag__gemm_job *)arg;
    ag__transpose_rect(j->isa, j->dtype, j->C, j->T, j->M, j->N, (int64_t)t * 32, (int64_t)t * 32 + 32 < j->M ? (int64_t)t * 32 + 32 : j->M, 0, j->N);
}

/* the packed panels of slab s: A's rows when A is big and reused across enough column panels;
   B's panels when its rows are strided or it is big (the ragged last panel too without masks), unless the
   slabs share B (j->Bwhole) */
static bool ag__gemm_slab_alloc(ag_ctx *ctx, ag__gemm_job *j, ag__gemm_slab *s, bool share_b) {
    const ag__gemm_cfg *g = j->cfg;
    s->Ap = s->Bp = NULL;
    s->b1 = (s->j1 + g->nr - 1) / g->nr;
    s->b0 = j->bpack0 > s->j0 / g->nr ? j->bpack0 : s->j0 / g->nr;
    if (j->win && j->win->a_side) {   /* A's rows from x: mc of them at a time */
        s->Ap = (char *)ag__arena_alloc(ctx, (size_t)(g->mc * j->kc) * j->es, AG__DATA_ALIGN);
        if (!s->Ap) return false;
    } else if ((s->i1 - s->i0) * j->kc > AG__GEMM_PACK_MIN && s->j1 - s->j0 >= 8 * g->nr) {
        s->Ap = (char *)ag__arena_alloc(ctx, (size_t)((s->i1 - s->i0 + g->mr - 1) / g->mr * g->mr * j->kc) * j->es, AG__DATA_ALIGN);
        if (!s->Ap) return false;
    }
    if (s->b0 < s->b1 && !share_b) {
        int64_t npan = j->win && !j->win->a_side ? j->tile_n / g->nr : s->b1 - s->b0;   /* B from x: one tile at a time */
        s->Bp = (char *)ag__arena_alloc(ctx, (size_t)(npan * g->nr * j->kc) * j->es, AG__DATA_ALIGN);
        if (!s->Bp) return false;
    }
    return true;
}

/* C = A @ B, or with T: T = (A @ B)^T, C being scratch; false (and an error on ctx) if the arena
   cannot hold the packed panels */
static bool ag__gemm_t(ag_ctx *ctx, int dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t rsa, int64_t csa,
                       const void *B, int64_t rsb, int64_t csb, void *C, void *T, const ag__gemm_win *win) {
    ag__gemm_job j;
    ag__mark m;
    int64_t macs = M * N * K, apan, bpan;
    size_t es = ag__esize(dtype);
    int t;
    if (M == 0 || N == 0) return true;
    if (win && K == 0) { memset(C, 0, (size_t)(M * N) * es); return true; }
    if (!win && (K == 0 || macs <= AG__GEMM_SMALL || (K == 1 && macs < AG__GEMM_SLAB_MIN) ||   /* an outer product: nothing to pack for */
                 /* and one or two rows of x @ W^T: dot products beat packing W */
        (M <= 2 && macs <= 8 * AG__GEMM_SMALL && rsb == 1 && csb != 1 && csa == 1))) {   /* (an operand from x: the general path) */
        if (dtype == AG_F32) ag__gemm_small_f32(ctx->isa, M, N, K, (const float *)A, rsa, csa, (const float *)B, rsb, csb, (float *)C);
        AG__F64(else ag__gemm_small_f64(ctx->isa, M, N, K, (const double *)A, rsa, csa, (const double *)B, rsb, csb, (double *)C);)
        if (T) ag__transpose_rect(ctx->isa, dtype, C, T, M, N, 0, M, 0, N);
        return true;
    }
    memset(&j, 0, sizeof j);
    j.cfg = ag__gemm_config(ctx->isa, dtype);
    if (ctx->isa == AG__ISA_AVX512 && 2 * N <= j.cfg->nr) j.cfg = ag__gemm_config(AG__ISA_AVX512 + AG__GEMM_NARROW, dtype);   /* narrow C: one-vector tiles */
    if (!win && csb != 1 && N > 1 && M >= j.cfg->nr && K * M + M * N < K * N) {
        /* B's rows are strided (x @ W^T with a wide W): C^T = B^T A^T packs the smaller A instead,
           and each slab copies its part of C^T into C (the two conditions exclude each other: no recursion) */
        void *ct;
        m = ag__arena_mark(ctx);
        ct = ag__arena_alloc(ctx, (size_t)(M * N) * es, AG__DATA_ALIGN);
        if (!ct || !ag__gemm_t(ctx, dtype, N, M, K, B, csb, rsb, A, csa, rsa, ct, C, NULL)) return false;
        ag__arena_release(ctx, m);
        return true;
    }
    j.dtype = dtype; j.es = es; j.isa = ctx->isa;
    j.M = M; j.N = N; j.K = K;
    j.A = (const char *)A; j.B = (const char *)B; j.C = (char *)C; j.T = (char *)T;
    j.rsa = rsa; j.csa = csa; j.rsb = rsb; j.csb = N == 1 ? 1 : csb; j.win = win;
    j.kc = K < j.cfg->kc ? K : j.cfg->kc;
    apan = (M + j.cfg->mr - 1) / j.cfg->mr;
    bpan = (N + j.cfg->nr - 1) / j.cfg->nr;
    /* B in place when its rows are dense and it is not too big; the ragged last panel packed (zero-padded)
       unless the kernel reads it through masks */
    j.bpack0 = (win || j.csb != 1 || (j.kc * N > AG__GEMM_PACK_MIN && apan > 3)) ? 0 : j.cfg->ukr ? bpan : N / j.cfg->nr;
    j.tile_n = j.cfg->nc;
    m = ag__arena_mark(ctx);
    if (ctx->threads > 1 && macs >= AG__GEMM_SHARED_MIN && !win) {   /* the shared schedule */
        ag__gemm_slab *s = &j.slab[0];
        int64_t mtiles = (M + j.cfg->mc - 1) / j.cfg->mc;
        while (mtiles * ((N + j.tile_n - 1) / j.tile_n) < 4 * ctx->threads && j.tile_n > j.cfg->nr) j.tile_n /= 2;
        j.tile_n = (j.tile_n + j.cfg->nr - 1) / j.cfg->nr * j.cfg->nr;   /* enough tiles for every thread */
        j.ntiles = (N + j.tile_n - 1) / j.tile_n;
        s->i0 = 0; s->i1 = M; s->j0 = 0; s->j1 = N;
        if (!ag__gemm_slab_alloc(ctx, &j, s, false)) { ag__arena_release(ctx, m); return false; }
        for (j.pc = 0; j.pc < K; j.pc += j.kc) {
            j.kb = K - j.pc < j.kc ? K - j.pc : j.kc;
            if (s->Ap) ag__parallel(ctx, false, ag__gemm_pack_a_task, &j, (int)((apan + AG__PACK_CHUNK - 1) / AG__PACK_CHUNK));
            if (s->Bp) ag__parallel(ctx, false, ag__gemm_pack_b_task, &j, (int)((s->b1 - s->b0 + AG__PACK_CHUNK - 1) / AG__PACK_CHUNK));
            ag__parallel(ctx, false, ag__gemm_tile_task, &j, (int)(mtiles * j.ntiles));
        }
        if (T) ag__parallel(ctx, false, ag__gemm_transpose_task, &j, (int)((M + 31) / 32));
        ag__arena_release(ctx, m);
        return true;
    }
    /* slabs: rows of mr, or columns of B's nr-wide panels when B is the bigger operand, so that
       each thread reads its share of the bigger one (a memory-bound product then scales) and all
       of the smaller; split evenly, a slab with one panel more first (the calling thread takes slab 0
       and starts before the workers: the MLP step on 2 threads a few per cent faster than with the larger last) */
    {
        bool by_cols = N > M && bpan >= 2, share_b;
        int64_t units = by_cols ? bpan : apan, w = by_cols ? j.cfg->nr : j.cfg->mr;
        j.nslabs = ctx->threads > 1 && macs >= AG__GEMM_SLAB_MIN ? ctx->threads : 1;
        if (j.nslabs > AG__GEMM_MAX_SLABS) j.nslabs = AG__GEMM_MAX_SLABS;
        if (j.nslabs > units) j.nslabs = (int)units;
        share_b = !by_cols && !win && j.nslabs > 1 && j.bpack0 < bpan &&   /* row slabs share B, packed once for every k-block */
                  (size_t)((bpan - j.bpack0) * j.cfg->nr * K) * es <= AG__GEMM_SHARE_MAX;
        for (t = 0; t < j.nslabs; t++) {
            ag__gemm_slab *s = &j.slab[t];
            int64_t u0 = (units * t + j.nslabs - 1) / j.nslabs * w, u1 = (units * (t + 1) + j.nslabs - 1) / j.nslabs * w;
            s->i0 = 0; s->i1 = M; s->j0 = 0; s->j1 = N;
            if (by_cols) { s->j0 = u0; s->j1 = u1 < N ? u1 : N; }
            else { s->i0 = u0; s->i1 = u1 < M ? u1 : M; }
            if (!ag__gemm_slab_alloc(ctx, &j, s, share_b)) { ag__arena_release(ctx, m); return false; }
        }
        if (share_b) {
            j.Bwhole = (char *)ag__arena_alloc(ctx, (size_t)((bpan - j.bpack0) * j.cfg->nr * K) * es, AG__DATA_ALIGN);
            if (!j.Bwhole) { ag__arena_release(ctx, m); return false; }
            ag__parallel(ctx, false, ag__gemm_prepack_task, &j, (int)(bpan - j.bpack0));
        }
    }
    ag__parallel(ctx, j.nslabs == 1, ag__gemm_slab_task, &j, j.nslabs);
    ag__arena_release(ctx, m);
    return true;
}
static bool ag__gemm(ag_ctx *ctx, int dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t rsa, int64_t csa,
                     const void *B, int64_t rsb, int64_t csb, void *C) {
    return ag__gemm_t(ctx, dtype, M, N, K, A, rsa, csa, B, rsb, csb, C, NULL, NULL);
}

/* ==== >>threads: the pool ====
   A small pool: the caller and threads-1 workers take task indices from a
   shared counter. Work is split the same way for any number of threads. */
#ifdef AG__THREADS
#define AG__MAX_THREADS 64
/* the few primitives the pool needs: POSIX threads, or Win32 (SRW lock, condition variables,
   CreateThread); one pool is written against them */
#ifdef AG__WIN32
typedef SRWLOCK ag__mutex;
typedef CONDITION_VARIABLE ag__cond;
typedef HANDLE ag__thread;
#define AG__MUTEX_INIT(m) InitializeSRWLock(m)
#define AG__MUTEX_DESTROY(m) ((void)(m))   /* an SRW lock holds no resources */
#define AG__LOCK(m) AcquireSRWLockExclusive(m)
#define AG__UNLOCK(m) ReleaseSRWLockExclusive(m)
#define AG__COND_INIT(c) InitializeConditionVariable(c)
#define AG__COND_DESTROY(c) ((void)(c))
#define AG__COND_WAIT(c, m) ((void)SleepConditionVariableSRW(c, m, INFINITE, 0))
#define AG__COND_SIGNAL(c) WakeConditionVariable(c)
#define AG__COND_BROADCAST(c) WakeAllConditionVariable(c)
#define AG__THREAD_FN(name, arg) static DWORD WINAPI name(LPVOID arg)
#define AG__THREAD_RETURN return 0
static bool ag__thread_start(ag__thread *t, DWORD (WINAPI *fn)(LPVOID), void *arg) {
    *t = CreateThread(NULL, 0, fn, arg, 0, NULL);
    return *t != NULL;
}
static void ag__thread_join(ag__thread t) { WaitForSingleObject(t, INFINITE); CloseHandle(t); }
#else
typedef pthread_mutex_t ag__mutex;
typedef pthread_cond_t ag__cond;
typedef pthread_t ag__thread;
#define AG__MUTEX_INIT(m) pthread_mutex_init(m, NULL)
#define AG__MUTEX_DESTROY(m) pthread_mutex_destroy(m)
#define AG__LOCK(m) pthread_mutex_lock(m)
#define AG__UNLOCK(m) pthread_mutex_unlock(m)
#define AG__COND_INIT(c) pthread_cond_init(c, NULL)
#define AG__COND_DESTROY(c) pthread_cond_destroy(c)
#define AG__COND_WAIT(c, m) pthread_cond_wait(c, m)
#define AG__COND_SIGNAL(c) pthread_cond_signal(c)
#define AG__COND_BROADCAST(c) pthread_cond_broadcast(c)
#define AG__THREAD_FN(name, arg) static void *name(void *arg)
#define AG__THREAD_RETURN return NULL
static bool ag__thread_start(ag__thread *t, void *(*fn)(void *), void *arg) { return pthread_create(t, NULL, fn, arg) == 0; }
static void ag__thread_join(ag__thread t) { pthread_join(t, NULL); }
#endif
struct ag__pool {
    ag__mutex mu;
    ag__cond work, done;
    void (*task)(void *, int);
    void *arg;
    int n, next, finished, quit, nworkers;
    unsigned gen;
    ag__thread th[AG__MAX_THREADS];
};
/* the workers' spin reads gen and quit, the caller's finished, outside the lock */
#if defined(__GNUC__) || defined(__clang__)
#define AG__LOAD_ACQ(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define AG__STORE_REL(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#elif defined(_MSC_VER)   /* full barriers, on any target (gen and quit are 32 bits, as long is on Windows) */
#include <intrin.h>
#define AG__LOAD_ACQ(x) _InterlockedOr((volatile long *)&(x), 0)
#define AG__STORE_REL(x, v) ((void)_InterlockedExchange((volatile long *)&(x), (long)(v)))
#else
#define AG__LOAD_ACQ(x) (x)
#define AG__STORE_REL(x, v) ((x) = (v))
#endif
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define AG__SPIN_PAUSE() __builtin_ia32_pause()
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#define AG__SPIN_PAUSE() _mm_pause()
#else
#define AG__SPIN_PAUSE() ((void)0)
#endif
/* How long a worker waiting for the next job (and the caller waiting for the last task) spins
   before it sleeps: about 1 ms (a pause is 24 ns on Zen 4, 35-40 ns on recent Intel cores), so
   that a worker stays awake through a step's serial stretches and sleeps between steps. Waking a
   sleeping thread costs tens of microseconds, and more on a virtual machine whose idle virtual
   CPU was descheduled: a CNN step on 2 threads after an idle pause took 3.4-7.9 ms with a spin
   of 8000 (30-60 sleeps in 5 steps), 3.2-4.6 ms with this one (1 sleep). */
#define AG__POOL_SPIN 40000
/* takes and runs tasks of the current job until none is left; called with mu held */
static void ag__pool_drain(ag__pool *p) {
    while (p->next < p->n) {
        int i = p->next++;
        AG__UNLOCK(&p->mu);
        p->task(p->arg, i);
        AG__LOCK(&p->mu);
        AG__STORE_REL(p->finished, p->finished + 1);   /* the caller's spin reads it outside the lock */
        if (p->finished == p->n) AG__COND_SIGNAL(&p->done);
    }
}
AG__THREAD_FN(ag__pool_worker, arg) {
    ag__pool *p = (ag__pool *)arg;
    unsigned seen = 0;
    AG__LOCK(&p->mu);
    for (;;) {
        if (!p->quit && p->gen == seen) {   /* spin a little first: the next job usually comes within microseconds */
            int spin;
            AG__UNLOCK(&p->mu);
            for (spin = 0; spin < AG__POOL_SPIN && (unsigned)AG__LOAD_ACQ(p->gen) == seen && !AG__LOAD_ACQ(p->quit); spin++) AG__SPIN_PAUSE();
            AG__LOCK(&p->mu);
        }
        while (!p->quit && p->gen == seen) AG__COND_WAIT(&p->work, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        ag__pool_drain(p);
    }
    AG__UNLOCK(&p->mu);
    AG__THREAD_RETURN;
}
static void ag__pool_run(ag__pool *p, void (*task)(void *, int), void *arg, int n) {
    AG__LOCK(&p->mu);
    p->task = task; p->arg = arg; p->n = n; p->next = 0; p->finished = 0;
    AG__STORE_REL(p->gen, p->gen + 1);
    AG__COND_BROADCAST(&p->work);
    ag__pool_drain(p);
    if (p->finished < p->n) {   /* spin a little before sleeping: the last tasks usually end within microseconds */
        int spin;
        AG__UNLOCK(&p->mu);
        for (spin = 0; spin < AG__POOL_SPIN && AG__LOAD_ACQ(p->finished) < n; spin++) AG__SPIN_PAUSE();
        AG__LOCK(&p->mu);
    }
    while (p->finished < p->n) AG__COND_WAIT(&p->done, &p->mu);
    AG__UNLOCK(&p->mu);
}
static ag__pool *ag__pool_new(ag_ctx *ctx, int threads, int *running) {
    ag__pool *p = (ag__pool *)ag__heap_alloc(ctx, sizeof(ag__pool));
    int i;
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    AG__MUTEX_INIT(&p->mu);
    AG__COND_INIT(&p->work);
    AG__COND_INIT(&p->done);
    for (i = 0; i < threads - 1 && i < AG__MAX_THREADS; i++) {
        if (!ag__thread_start(&p->th[i], ag__pool_worker, p)) break;
        p->nworkers++;
    }
    *running = p->nworkers + 1;
    return p;
}
static void ag__pool_free(ag_ctx *ctx, ag__pool *p) {
    int i;
    if (!p) return;
    AG__LOCK(&p->mu);
    AG__STORE_REL(p->quit, 1);
    AG__COND_BROADCAST(&p->work);
    AG__UNLOCK(&p->mu);
    for (i = 0; i < p->nworkers; i++) ag__thread_join(p->th[i]);
    AG__COND_DESTROY(&p->work);
    AG__COND_DESTROY(&p->done);
    AG__MUTEX_DESTROY(&p->mu);
    ag__heap_free(ctx, p);
}
#endif

static void ag__parallel(ag_ctx *ctx, bool serial, void (*task)(void *, int), void *arg, int n) {
    int i;
    if (serial) n = -n;   /* falls through to the loop below */
    if (n > 1 && ctx->parallel_for) { ctx->parallel_for(task, arg, n, ctx->parallel_user); return; }
#ifdef AG__THREADS
    if (n > 1 && ctx->pool) { ag__pool_run(ctx->pool, task, arg, n); return; }
#endif
    if (n < 0) n = -n;
    for (i = 0; i < n; i++) task(arg, i);
}

/* a copy with a 16-bit side: the same dtype moves bits (a NaN keeps its payload); dense F32 and
   16-bit rows go through F32 blocks with the kernel set's conversions; the rest element by element */
static void ag__copy_row_half(const void *kp, int64_t n, char **p, const int64_t *s) {
    const ag__cvt *c = (const ag__cvt *)kp;
    int64_t i, i0, m;
    int64_t ed = (int64_t)ag__esize(c->dst), es = (int64_t)ag__esize(c->src);
    float buf[AG__HALF_BLOCK];
    if (c->dst == c->src) {
        for (i = 0; i < n; i++) memcpy(p[0] + i * s[0] * ed, p[1] + i * s[1] * es, 2);
        return;
    }
    if (s[0] == 1 && s[1] == 1 && c->dst != AG_F64 && c->src != AG_F64) {
        for (i0 = 0; i0 < n; i0 += m) {
            float *f = c->src == AG_F32 ? (float *)(void *)p[1] + i0 : buf;
            m = n - i0 < AG__HALF_BLOCK ? n - i0 : AG__HALF_BLOCK;
            if (c->src != AG_F32) ag__from_half(c->isa, c->src, buf, (const uint16_t *)(const void *)p[1] + i0, m);
            if (c->dst == AG_F32) memcpy((float *)(void *)p[0] + i0, f, (size_t)m * sizeof(float));
            else ag__to_half(c->isa, c->dst, (uint16_t *)(void *)p[0] + i0, f, m);
        }
        return;
    }
    if (c->dst == AG_F64 || c->src == AG_F64) {
        for (i = 0; i < n; i++) ag__set_as(c->dst, p[0] + i * s[0] * ed, ag__get_as(c->src, p[1] + i * s[1] * es));
        return;
    }
    for (i = 0; i < n; i++) {   /* through a float, not a double: a float NaN keeps its bits */
        char *d = p[0] + i * s[0] * ed;
        const char *q = p[1] + i * s[1] * es;
        uint16_t h;
        float f;
        if (c->src == AG_F32) memcpy(&f, q, 4);
        else { memcpy(&h, q, 2); f = c->src == AG_F16 ? ag__f16_to_f32(h) : ag__bf16_to_f32(h); }
        if (c->dst == AG_F32) memcpy(d, &f, 4);
        else { h = c->dst == AG_F16 ? ag__f32_to_f16(f) : ag__f32_to_bf16(f); memcpy(d, &h, 2); }
    }
}
/* runs the copy rows of it (operand 0 = dst, 1 = src) */
static void ag__copy_run(ag__iter *it, int dst, int src, int isa) {
    ag__cvt c;
    c.dst = dst; c.src = src; c.isa = isa;
    if (AG__INT(dst) || AG__INT(src)) { ag__iter_run(it, ag__copy_row_int, &c); return; }
    if (AG__HALF(dst) || AG__HALF(src)) { ag__iter_run(it, ag__copy_row_half, &c); return; }
    ag__iter_run(it, AG__PICK(dst, AG__PICK(src, ag__copy_row_f32_f32, ag__copy_row_f32_f64),
                              AG__PICK(src, ag__copy_row_f64_f32, ag__copy_row_f64_f64)), NULL);
}

/* dst (any strides) = src broadcast to dst's shape, converted */
static bool ag__contig(const ag_tensor *t);
/* memcpy, shared out on the pool in chunks of AG__COPY_CHUNK bytes when it is big enough to pay */
#define AG__COPY_CHUNK ((size_t)128 << 10)
#define AG__MAP_CHUNK ((int64_t)1 << 15)   /* elements per task of elementwise rows, pools and windows */
typedef struct { char *dst; const char *src; size_t bytes; } ag__memcpy_job;
static void ag__memcpy_task(void *arg, int t) {
    const ag__memcpy_job *j = (const ag__memcpy_job *)arg;
    size_t off = (size_t)t * AG__COPY_CHUNK;
    memcpy(j->dst + off, j->src + off, j->bytes - off < AG__COPY_CHUNK ? j->bytes - off : AG__COPY_CHUNK);
}
static void ag__memcpy_par(ag_ctx *ctx, void *dst, const void *src, size_t bytes) {
    ag__memcpy_job j;
    j.dst = (char *)dst; j.src = (const char *)src; j.bytes = bytes;
    if (ctx->threads == 1 || bytes < 2 * AG__COPY_CHUNK) { memcpy(dst, src, bytes); return; }
    ag__parallel(ctx, false, ag__memcpy_task, &j, (int)((bytes + AG__COPY_CHUNK - 1) / AG__COPY_CHUNK));
}
static void ag__copy_into(ag_tensor *dst, const ag_tensor *src) {
    ag__iter it;
    if (src->vb && !dst->vb && ag__vmap_copy(dst, src)) return;   /* a fresh copy of a batched tensor: every example */
    if (AG__TAPING(dst->ctx)) ag__tape(dst->ctx, AG__STEP_COPY, 0, dst, (ag_tensor *)src, 0);
    if (dst->dtype == src->dtype && dst->numel == src->numel && ag__contig(dst) && ag__contig(src)) {
        ag__memcpy_par(dst->ctx, dst->data, src->data, (size_t)dst->numel * ag__esize(dst->dtype));
        return;
    }
    ag__iter_init(&it, dst->ndim, dst->shape);
    ag__iter_add(&it, dst->data, (int)ag__esize(dst->dtype), dst->stride);
    ag__iter_add_tensor(&it, src);
    ag__copy_run(&it, dst->dtype, src->dtype, dst->ctx->isa);
}

static bool ag__same_shape(const ag_tensor *a, const ag_tensor *b) {
    int i;
    if (a->ndim != b->ndim) return false;
    for (i = 0; i < a->ndim; i++) if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* whether the bytes a and b can reach overlap (from their extents; conservative for strided views) */
static bool ag__shares_memory(const ag_tensor *a, const ag_tensor *b) {
    const char *lo[2], *hi[2];
    const ag_tensor *t[2];
    int k, i;
    t[0] = a; t[1] = b;
    if (a->numel == 0 || b->numel == 0) return false;
    for (k = 0; k < 2; k++) {
        int64_t mn = 0, mx = 0;
        for (i = 0; i < t[k]->ndim; i++) {
            int64_t span = (t[k]->shape[i] - 1) * t[k]->stride[i];
            if (span < 0) mn += span; else mx += span;
        }
        lo[k] = t[k]->data + mn * (int64_t)ag__esize(t[k]->dtype);
        hi[k] = t[k]->data + (mx + 1) * (int64_t)ag__esize(t[k]->dtype);
    }
    return lo[0] < hi[1] && lo[1] < hi[0];
}
static bool ag__contig(const ag_tensor *t) {
    int64_t s = 1; int i;
    for (i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

/* a contiguous copy, outside the graph (for kernels that want dense input) */
static ag_tensor *ag__dense(ag_tensor *t) {
    ag_tensor *c;
    if (ag__contig(t)) return t;
    c = ag__result_raw(t->ctx, t->dtype, t->ndim, t->shape, 0);   /* the copy writes every element */
    if (c) ag__copy_into(c, t);
    return c;
}

static void ag__fill(ag_tensor *t, double v) {   /* t contiguous */
    int64_t i;
    if (t->dtype == AG_F32) { float *d = (float *)t->data; for (i = 0; i < t->numel; i++) d[i] = (float)v; }
    else if (t->dtype == AG_F64) { double *d = (double *)t->data; for (i = 0; i < t->numel; i++) d[i] = v; }
    else for (i = 0; i < t->numel; i++) ag__store(t, i, v);
}

/* ==== >>checks: argument checks ==== */
static ag_ctx *ag__ctx2(const char *op, const ag_tensor *a, const ag_tensor *b) {
    ag_ctx *ca = NULL, *cb = NULL;
    bool sa = a && ag__stale(a, &ca), sb = b && ag__stale(b, &cb);
    if (sa || sb) {   /* reported on the stale one's context, else on the other argument's */
        ag__stale_fail(sa ? (ca ? ca : b && !sb ? b->ctx : NULL) : cb ? cb : a->ctx, op);
        return NULL;
    }
    if (!a && !b) return NULL;
    if (!a || !b) { ag__fail(a ? a->ctx : b->ctx, "%s: argument %d is NULL", op, a ? 2 : 1); return NULL; }
    if (a->ctx != b->ctx) { ag__fail(a->ctx, "%s: tensors belong to different contexts", op); return NULL; }
    return a->ctx;
}
/* normalises a possibly negative dim into [0, ndim) */
static bool ag__dim(ag_ctx *ctx, const char *op, int ndim, int dim, int *out) {
    if (dim < -ndim || dim >= ndim) {
        if (ndim == 0) ag__fail(ctx, "%s: dim %d is out of range for a 0-d tensor", op, dim);
        else ag__fail(ctx, "%s: dim %d is out of range for %d dims (expected %d to %d)", op, dim, ndim, -ndim, ndim - 1);
        return false;
    }
    *out = dim < 0 ? dim + ndim : dim;
    return true;
}
/* the same for the ops PyTorch lets take dim 0 or -1 of a 0-d tensor (reductions, softmax,
   squeeze, transpose): *out is then -1, "the 0-d tensor itself" */
static bool ag__dim_s(ag_ctx *ctx, const char *op, int ndim, int dim, int *out) {
    if (ndim == 0 && (dim == 0 || dim == -1)) { *out = -1; return true; }
    return ag__dim(ctx, op, ndim, dim, out);
}
static bool ag__check_dtype(ag_ctx *ctx, const char *op, int dtype) {
    if (dtype < AG_F32 || dtype > AG_BOOL) { ag__fail(ctx, "%s: unknown dtype %d", op, dtype); return false; }
#ifdef AG_NO_F64
    if (dtype == AG_F64) { ag__fail(ctx, "%s: float64 is not in this build (AG_NO_F64)", op); return false; }
#endif
    return true;
}

/* ==== >>tensors: creation ==== */
/* zero: fill the data with zeros (false when the caller writes every element) */
static ag_tensor *ag__create(ag_ctx *ctx, const char *op, ag_dtype dtype, int ndim, const int64_t *shape, bool persistent, bool zero) {
    int64_t numel;
    if (!ctx) return NULL;
    if (!ag__check_dtype(ctx, op, dtype) || !ag__check_shape(ctx, op, ndim, shape, &numel)) return NULL;
    return ag__alloc_tensor_z(ctx, dtype, ndim, shape, 0, true, persistent, zero);
}
AG_API ag_tensor *ag_new(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape) { return ag__create(ctx, "new", dtype, ndim, shape, false, true); }
AG_API ag_tensor *ag_zeros(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape) { return ag__create(ctx, "zeros", dtype, ndim, shape, false, true); }
static ag_tensor *ag__full(ag_ctx *ctx, const char *op, ag_dtype dtype, int ndim, const int64_t *shape, double value) {
    ag_tensor *t = ag__create(ctx, op, dtype, ndim, shape, false, false);   /* the fill writes every element */
    if (t) ag__fill(t, value);
    return t;
}
AG_API ag_tensor *ag_full(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, double value) { return ag__full(ctx, "full", dtype, ndim, shape, value); }
AG_API ag_tensor *ag_ones(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape) { return ag__full(ctx, "ones", dtype, ndim, shape, 1.0); }
static ag_tensor *ag__create_from(ag_ctx *ctx, const char *op, ag_dtype dtype, int ndim, const int64_t *shape, const void *data, bool persistent) {
    ag_tensor *t = ag__create(ctx, op, dtype, ndim, shape, persistent, !data);   /* zeros only without data */
    if (t && data) memcpy(t->data, data, (size_t)t->numel * ag__esize(dtype));
    return t;
}
AG_API ag_tensor *ag_from(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    if (ctx && !data) { ag__fail(ctx, "from: data is NULL"); return NULL; }
    return ag__create_from(ctx, "from", dtype, ndim, shape, data, false);
}
AG_API ag_tensor *ag_persistent(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    return ag__create_from(ctx, "persistent", dtype, ndim, shape, data, true);
}
AG_API ag_tensor *ag_from_f32(ag_ctx *ctx, int ndim, const int64_t *shape, const float *data) {
    if (ctx && !data) { ag__fail(ctx, "from_f32: data is NULL"); return NULL; }
    return ag__create_from(ctx, "from_f32", AG_F32, ndim, shape, data, false);
}
AG_API ag_tensor *ag_from_f64(ag_ctx *ctx, int ndim, const int64_t *shape, const double *data) {
    if (ctx && !data) { ag__fail(ctx, "from_f64: data is NULL"); return NULL; }
    return ag__create_from(ctx, "from_f64", AG_F64, ndim, shape, data, false);
}
AG_API ag_tensor *ag_wrap(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, void *data) {
    int64_t numel;
    ag_tensor *t;
    if (!ctx) return NULL;
    if (!ag__check_dtype(ctx, "wrap", dtype) || !ag__check_shape(ctx, "wrap", ndim, shape, &numel)) return NULL;
    if (!data) { ag__fail(ctx, "wrap: data is NULL"); return NULL; }
    if ((uintptr_t)data % ag__esize(dtype)) {
        ag__fail(ctx, "wrap: data at %p is not aligned to its %zu-byte elements", data, ag__esize(dtype));
        return NULL;
    }
    if (!(t = ag__alloc_tensor(ctx, dtype, ndim, shape, 0, false, false))) return NULL;
    t->data = (char *)data;
    return t;
}
AG_API ag_tensor *ag_param(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape, const void *data) {
    ag_tensor *t;
    if (ctx && (int)dtype >= AG_I32 && (int)dtype <= AG_BOOL) {
        ag__fail(ctx, "param: only floating-point tensors can require grad (got %s): use ag_persistent", ag_dtype_name(dtype));
        return NULL;
    }
    t = ag__create_from(ctx, "param", dtype, ndim, shape, data, true);
    if (t) t->flags |= AG__REQ_GRAD;
    return t;
}
/* a persistent tensor's memory back to the allocator: its hooks, its gradient buffer, itself */
static void ag__free_persistent_now(ag_tensor *t) {
    ag_ctx *ctx = t->ctx;
    struct ag__hook *h = t->hooks, *next;
    for (; h; h = next) { next = h->next; ag__persist_free(ctx, h); }
    if (t->extra) { ((ag_tensor *)t->extra)->tag = 0; ag__persist_free(ctx, t->extra); ctx->persistent_tensors--; }
    t->tag = 0;   /* a pointer kept to it no longer looks like a tensor, while the allocator leaves the bytes */
    ag__persist_free(ctx, t);
    ctx->persistent_tensors--;
}
AG_API int ag_free_persistent(ag_tensor *t) { t = ag__arg(t);
    char s[200];
    if (!t) return -1;
    if (!(t->flags & AG__PERSISTENT)) {
        ag__fail(t->ctx, "free_persistent: the %s tensor is an arena tensor, which ag_ctx_reset frees", AG__SHAPE(s, t));
        return -1;
    }
    if (!ag__not_capturing(t->ctx, "free_persistent", "freeing a tensor")) return -1;
    if (t->users) {
        ag__fail(t->ctx, "free_persistent: %u optimizer%s hold%s the %s tensor: ag_optim_free first", t->users, t->users > 1 ? "s" : "",
                 t->users > 1 ? "" : "s", AG__SHAPE(s, t));
        return -1;
    }
    if (t->use_gen == t->ctx->gen) {
        ag__fail(t->ctx, "free_persistent: a tensor made since the last ag_ctx_reset uses the %s tensor: reset first", AG__SHAPE(s, t));
        return -1;
    }
    ag__free_persistent_now(t);
    return 0;
}
AG_API ag_tensor *ag_scalar(ag_ctx *ctx, double v) { return ag__full(ctx, "scalar", AG_F32, 0, NULL, v); }
AG_API ag_tensor *ag_scalar_f64(ag_ctx *ctx, double v) { return ag__full(ctx, "scalar_f64", AG_F64, 0, NULL, v); }
AG_API ag_tensor *ag_arange(ag_ctx *ctx, ag_dtype dtype, double start, double end, double step) {
    int64_t n, i;
    double len;
    ag_tensor *t;
    if (!ctx) return NULL;
    if (step == 0 || ag__isnan(step) || ag__isnan(start) || ag__isnan(end)) { ag__fail(ctx, "arange: step must be non-zero and bounds finite"); return NULL; }
    if ((end - start) * step < 0) { ag__fail(ctx, "arange: the step %g goes away from end %g (start %g)", step, end, start); return NULL; }
    len = ceil((end - start) / step);
    if (len > (double)AG__MAX_NUMEL) { ag__fail(ctx, "arange: too many elements"); return NULL; }
    n = len > 0 ? (int64_t)len : 0;
    t = ag__create(ctx, "arange", dtype, 1, &n, false, true);
    if (!t) return NULL;
    for (i = 0; i < n; i++) {
        double v = start + (double)i * step;
        ag__store(t, i, v);
    }
    return t;
}
/* fills contiguous t from the context's RNG (also run by ag_replay) */
enum { AG__RAND_UNIFORM, AG__RAND_NORMAL, AG__RAND_DROPOUT };
static void ag__random_fill(ag_tensor *t, int kind, double p) {
    int64_t i;
    for (i = 0; i < t->numel; i++) {
        double v = kind == AG__RAND_NORMAL ? ag__rng_normal(t->ctx) : ag__rng_uniform(t->ctx);
        if (kind == AG__RAND_DROPOUT) v = v >= p ? 1.0 / (1.0 - p) : 0.0;   /* keep with probability 1 - p, scaled */
        ag__store(t, i, v);
    }
    if (AG__TAPING(t->ctx)) ag__tape(t->ctx, AG__STEP_RAND, kind, t, NULL, p);
}
static bool ag__no_vmap_random(ag_ctx *ctx, const char *op) {
    if (!ctx || !ctx->vmap_depth) return true;
    ag__fail(ctx, "%s: random numbers inside ag_vmap would be the same for every example; draw them outside and pass them in batched", op);
    return false;
}
static ag_tensor *ag__random(ag_ctx *ctx, const char *op, ag_dtype dtype, int ndim, const int64_t *shape, int kind) {
    ag_tensor *t = ag__no_vmap_random(ctx, op) ? ag__create(ctx, op, dtype, ndim, shape, false, true) : NULL;
    if (t) ag__random_fill(t, kind, 0);
    return t;
}
AG_API ag_tensor *ag_rand(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape) { return ag__random(ctx, "rand", dtype, ndim, shape, AG__RAND_UNIFORM); }
AG_API ag_tensor *ag_randn(ag_ctx *ctx, ag_dtype dtype, int ndim, const int64_t *shape) { return ag__random(ctx, "randn", dtype, ndim, shape, AG__RAND_NORMAL); }

/* ==== accessors ==== */
AG_API ag_ctx *ag_context(const ag_tensor *t) { t = ag__arg(t); return t ? t->ctx : NULL; }
AG_API ag_dtype ag_type(const ag_tensor *t) { t = ag__arg(t); return t ? (ag_dtype)t->dtype : AG_F32; }
AG_API int ag_ndim(const ag_tensor *t) { t = ag__arg(t); return t ? t->ndim : -1; }
AG_API int64_t ag_dim(const ag_tensor *t, int i) { t = ag__arg(t);
    if (!t) return -1;
    if (i < 0) i += t->ndim;
    return (i < 0 || i >= t->ndim) ? -1 : t->shape[i];
}
AG_API const int64_t *ag_shape(const ag_tensor *t) { t = ag__arg(t); return t ? t->shape : NULL; }
AG_API const int64_t *ag_strides(const ag_tensor *t) { t = ag__arg(t); return t ? t->stride : NULL; }
AG_API int64_t ag_numel(const ag_tensor *t) { t = ag__arg(t); return t ? t->numel : -1; }
AG_API bool ag_is_contiguous(const ag_tensor *t) { t = ag__arg(t); return t && ag__contig(t); }
AG_API void *ag_data(ag_tensor *t) { t = ag__arg(t); return t ? t->data : NULL; }
/* row-major element i of t, as an element offset through its strides */
static int64_t ag__offset(const ag_tensor *t, int64_t i) {
    int64_t off = 0;
    int d;
    for (d = (int)t->ndim - 1; d >= 0; d--) { off += (i % t->shape[d]) * t->stride[d]; i /= t->shape[d]; }
    return off;
}
AG_API double ag_item(const ag_tensor *t) { t = ag__arg(t);
    char s[200];
    if (!t) return NAN;
    if (t->numel != 1) {
        ag__fail(t->ctx, "item: a tensor of shape %s has %lld elements, not one", AG__SHAPE(s, t), (long long)t->numel);
        return NAN;
    }
    return ag__load(t, 0);
}
AG_API double ag_get(const ag_tensor *t, const int64_t *index) { t = ag__arg(t);
    int64_t off = 0; int i;
    char s[200];
    if (!t) return NAN;
    if (!index && t->ndim > 0) { ag__fail(t->ctx, "get: index is NULL"); return NAN; }
    for (i = 0; i < t->ndim; i++) {
        if (index[i] < 0 || index[i] >= t->shape[i]) {
            ag__fail(t->ctx, "get: index %lld is out of range for dim %d of shape %s", (long long)index[i], i, AG__SHAPE(s, t));
            return NAN;
        }
        off += index[i] * t->stride[i];
    }
    return ag__load(t, off);
}
AG_API int ag_copy_out(const ag_tensor *t, ag_dtype dtype, void *dst) { t = ag__arg(t);
    ag__iter it;
    int64_t st[AG_MAX_DIMS] = {0};
    if (!t) return -1;
    if (!dst) { ag__fail(t->ctx, "copy_out: dst is NULL"); return -1; }
    if (!ag__check_dtype(t->ctx, "copy_out", dtype)) return -1;
    ag__contig_strides(t->ndim, t->shape, st);
    ag__iter_init(&it, t->ndim, t->shape);
    ag__iter_add(&it, dst, (int)ag__esize(dtype), st);
    ag__iter_add_tensor(&it, t);
    ag__copy_run(&it, dtype, t->dtype, t->ctx->isa);
    return 0;
}

/* ==== >>grads: gradients of leaves ==== */
AG_API ag_tensor *ag_grad(const ag_tensor *t) { t = ag__arg(t);
    if (!t || !t->grad || !(t->flags & AG__REQ_GRAD)) return NULL;
    if (t->op && !(t->flags & AG__RETAIN)) return NULL;   /* a node's .grad is backward's scratch */
    if ((t->flags & AG__GRAD_ARENA) && t->grad_gen != t->ctx->gen) return NULL;
    return t->grad;
}
AG_API void ag_zero_grad(ag_tensor *t) { t = ag__arg(t);
    if (!t) return;
    t->grad = NULL;
    t->flags &= (uint16_t)~(AG__GRAD_OWNED | AG__GRAD_ARENA);
}
AG_API bool ag_requires_grad(const ag_tensor *t) { t = ag__arg(t); return t && (t->flags & AG__REQ_GRAD); }
AG_API bool ag_is_leaf(const ag_tensor *t) { t = ag__arg(t); return t && !t->op; }
AG_API ag_tensor *ag_set_requires_grad(ag_tensor *t, bool on) { t = ag__arg(t);
    char s[200];
    if (!t) return NULL;
    if (t->op) {
        ag__fail(t->ctx, "set_requires_grad: only leaves can change requires_grad; this %s tensor was made by '%s' (use ag_detach)",
                 AG__SHAPE(s, t), t->op->name);
        return NULL;
    }
    if (on && !AG__FLOAT(t->dtype)) {
        ag__fail(t->ctx, "set_requires_grad: only floating-point tensors can require grad; this %s tensor is %s", AG__SHAPE(s, t),
                 ag_dtype_name((ag_dtype)t->dtype));
        return NULL;
    }
    if (on) t->flags |= AG__REQ_GRAD; else t->flags &= (uint16_t)~AG__REQ_GRAD;
    return t;
}
AG_API ag_tensor *ag_retain_grad(ag_tensor *t) { t = ag__arg(t);
    if (!t) return NULL;
    if (!(t->flags & AG__REQ_GRAD)) { ag__fail(t->ctx, "retain_grad: the tensor does not require grad"); return NULL; }
    if (t->op) t->flags |= AG__RETAIN;
    return t;
}
AG_API ag_tensor *ag_detach(ag_tensor *t) { t = ag__arg(t);
    ag_tensor *v;
    if (!t) return NULL;
    v = ag__view_of(t, t->ndim, t->shape, t->stride, 0);
    return v;   /* a leaf that shares storage and needs no gradient */
}

/* ==== >>ops ====
   Each op: validate (message names the op and the shapes), compute into a
   fresh result or make a view, then ag__finish links it into the graph.
   Each backward rule: gin[i] = dL/d input i from g = dL/dy, with a one-line formula. */
#define AG__NEED(i) (y->in[i]->flags & AG__REQ_GRAD)

/* rules and kernels shared by many rows of the op table */
static int ag__jvp_none(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* piecewise constant: t_y = 0 */
    (void)y; (void)op; (void)t; *out = NULL; return 0;
}
static int ag__jvp_same(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* to, contiguous, expand: t_y = t_x */
    (void)y; (void)op; *out = t[0]; return 0;
}
/* elementwise ops have a diagonal Jacobian and softmax a symmetric one: J t = J^T t, so the
   tangent is the backward rule applied to t_x */
static int ag__jvp_diag(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {
    ag_tensor *gin[1];
    gin[0] = NULL;
    if (ag__ops[op].backward(y, t[0], gin) != 0) return -1;
    *out = gin[0];
    return 0;
}
/* a + b where NULL is zero */
static ag_tensor *ag__jvp_plus(ag_tensor *a, ag_tensor *b) { return !a ? b : !b ? a : ag_add(a, b); }
/* the kernel of views, copies and ops built from other ops: nothing of its own to rerun */
static bool ag__rerun_none(int op, ag_tensor *y) { (void)op; (void)y; return true; }

/* t as a dense F32 tensor in the arena, not a node (t itself unless it is 16-bit) */
static ag_tensor *ag__f32_scratch(ag_tensor *t) {
    ag_tensor *c;
    ag__iter it;
    int i, k, used = 0;
    int64_t expect = 1;
    bool dense;
    if (!t || !AG__HALF(t->dtype)) return t;
    dense = t->numel > 0;
    if (!(c = ag__result_raw(t->ctx, AG_F32, t->ndim, t->shape, 0))) return NULL;
    for (k = 0; dense && k < t->ndim; k++) {   /* dims by increasing stride, each the product of the ones before: a dense block */
        int best = -1;
        for (i = 0; i < t->ndim; i++)
            if (!((used >> i) & 1) && t->shape[i] > 1 && (best < 0 || t->stride[i] < t->stride[best])) best = i;
        if (best < 0) break;
        used |= 1 << best;
        if (t->stride[best] != expect) dense = false;
        expect *= t->shape[best];
    }
    if (dense) {   /* a permutation of a dense block (W^T in linear and its gradients): converted as one row */
        ag__from_half(t->ctx->isa, t->dtype, (float *)(void *)c->data, (const uint16_t *)(const void *)t->data, t->numel);
        for (i = 0; i < t->ndim; i++) c->stride[i] = t->stride[i];
        return c;
    }
    ag__iter_init(&it, t->ndim, t->shape);
    ag__iter_add_tensor(&it, c);
    ag__iter_add_tensor(&it, t);
    ag__copy_run(&it, AG_F32, t->dtype, t->ctx->isa);
    return c;
}
/* the kernel of op for a 16-bit y whose kernel has no 16-bit rows (matmul, linear): the inputs
   in y->in as F32 scratch, the kernel into F32 scratch, rounded into y once */
static bool ag__half_run(int op, ag_tensor *y) {
    ag_ctx *ctx = y->ctx;
    ag__mark m = ag__arena_mark(ctx);
    ag_tensor *y32 = ag__result_raw(ctx, AG_F32, y->ndim, y->shape, y->nin);
    int i;
    bool ok = y32 != NULL;
    for (i = 0; ok && i < y->nin; i++) ok = !(y->in[i] && !(y32->in[i] = ag__f32_scratch(y->in[i])));
    if (ok) {
        y32->fp[0] = y->fp[0]; y32->fp[1] = y->fp[1];
        for (i = 0; i < 3; i++) y32->ip[i] = y->ip[i];
        y32->extra = y->extra;
        ok = ag__ops[op].rerun(op, y32);
    }
    if (ok) ag__to_half(ctx->isa, y->dtype, (uint16_t *)(void *)y->data, (const float *)(const void *)y32->data, y->numel);
    ag__arena_release(ctx, m);
    return ok;
}
/* the ops whose 16-bit results ag__half_run computes (their kernels have no 16-bit rows); every
   other kernel takes 16-bit operands itself */
#define AG__HALF_VIA_F32(op, dtype) (AG__HALF(dtype) && ((op) == AG__OP_matmul || (op) == AG__OP_linear))
/* recomputes y (ag_replay) as its op computed it */
static bool ag__rerun(int op, ag_tensor *y) {
    return AG__HALF_VIA_F32(op, y->dtype) ? ag__half_run(op, y) : ag__ops[op].rerun(op, y);
}

static ag_tensor *ag__reduce(const char *name, ag_tensor *x, int op, unsigned mask, bool keepdim, double scale);

/* the gradient g of a broadcast result, summed back to x's shape */
static ag_tensor *ag__sum_to(ag_tensor *g, const ag_tensor *x) {
    unsigned mask = 0;
    int i, lead;
    if (!g) return NULL;
    lead = g->ndim - x->ndim;
    AG_ASSERT(lead >= 0);
    for (i = 0; i < g->ndim; i++)
        if (i < lead || (x->shape[i - lead] == 1 && g->shape[i] != 1)) mask |= 1u << i;
    if (!mask) return g->ndim == x->ndim ? g : ag_reshape(g, x->ndim, x->shape);
    return ag_reshape(ag__reduce("sum", g, AG__OP_sum, mask, true, 1.0), x->ndim, x->shape);
}

/* ---- dtype conversion and copies ---- */
AG_API ag_tensor *ag_to(ag_tensor *t, ag_dtype dtype) { t = ag__arg(t);
    ag_tensor *y;
    if (!t) return NULL;
    if (!ag__check_dtype(t->ctx, "to", dtype)) return NULL;
    if (t->dtype == dtype) return t;
    y = ag__result_raw(t->ctx, dtype, t->ndim, t->shape, 1);
    if (!y) return NULL;
    ag__copy_into(y, t);
    return ag__finish1(y, AG__OP_to, t);
}
static int ag__bw_to(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y, converted back */
    gin[0] = ag_to(g, (ag_dtype)y->in[0]->dtype);
    return 0;
}

/* a dense copy of t, as a node (d t = d copy) */
static ag_tensor *ag__copy_node(ag_tensor *t) {
    ag_tensor *y = ag__result_raw(t->ctx, t->dtype, t->ndim, t->shape, 1);
    if (!y) return NULL;
    ag__copy_into(y, t);
    return ag__finish1(y, AG__OP_contiguous, t);
}
AG_API ag_tensor *ag_contiguous(ag_tensor *t) { t = ag__arg(t);
    if (!t) return NULL;
    return ag__contig(t) ? t : ag__copy_node(t);
}
static int ag__bw_contiguous(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { (void)y; gin[0] = g; return 0; }   /* d x = d y */

/* ---- views ---- */
AG_API ag_tensor *ag_reshape(ag_tensor *t, int ndim, const int64_t *shape) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS], st[AG_MAX_DIMS], known = 1, numel;
    int i, infer = -1;
    char s1[200], s2[200];
    if (!t) return NULL;
    if (ndim < 0 || ndim > AG_MAX_DIMS) { ag__fail(t->ctx, "reshape: ndim %d is out of range (0 to %d)", ndim, AG_MAX_DIMS); return NULL; }
    if (ndim > 0 && !shape) { ag__fail(t->ctx, "reshape: shape is NULL for ndim %d", ndim); return NULL; }
    for (i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) { ag__fail(t->ctx, "reshape: only one dimension can be -1, got %s", ag__shape_str(s1, sizeof s1, ndim, shape)); return NULL; }
            infer = i;
        } else if (shape[i] < 0) {
            ag__fail(t->ctx, "reshape: invalid size %lld in %s", (long long)shape[i], ag__shape_str(s1, sizeof s1, ndim, shape));
            return NULL;
        } else {
            if (shape[i] > 0 && known > AG__MAX_NUMEL / shape[i]) { ag__fail(t->ctx, "reshape: shape %s has too many elements", ag__shape_str(s1, sizeof s1, ndim, shape)); return NULL; }
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || t->numel % known) {
            ag__fail(t->ctx, "reshape: cannot reshape %s (%lld elements) to %s", AG__SHAPE(s1, t), (long long)t->numel,
                     ag__shape_str(s2, sizeof s2, ndim, shape));
            return NULL;
        }
        sh[infer] = t->numel / known;
    }
    if (!ag__check_shape(t->ctx, "reshape", ndim, sh, &numel)) return NULL;
    if (numel != t->numel) {
        ag__fail(t->ctx, "reshape: cannot reshape %s (%lld elements) to %s (%lld elements)", AG__SHAPE(s1, t),
                 (long long)t->numel, ag__shape_str(s2, sizeof s2, ndim, sh), (long long)numel);
        return NULL;
    }
    if (ndim == t->ndim && memcmp(sh, t->shape, sizeof(int64_t) * (size_t)ndim) == 0) return t;   /* nothing to do */
    t = ag_contiguous(t);   /* a view when the data is dense, else a copy first (like PyTorch) */
    if (!t) return NULL;
    ag__contig_strides(ndim, sh, st);
    return ag__finish1(ag__view_of(t, ndim, sh, st, 0), AG__OP_reshape, t);
}
static int ag__bw_reshape(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = reshape(d y, x.shape) */
    gin[0] = ag_reshape(g, y->in[0]->ndim, y->in[0]->shape);
    return 0;
}
static int ag__jvp_reshape(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = reshape(t_x) */
    (void)op; *out = ag_reshape(t[0], y->ndim, y->shape); return 0;
}

AG_API ag_tensor *ag_squeeze(ag_tensor *t, int dim) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS] = {0}, st[AG_MAX_DIMS] = {0};
    int i, n = 0;
    if (!t || !ag__dim_s(t->ctx, "squeeze", t->ndim, dim, &dim)) return NULL;
    if (dim < 0 || t->shape[dim] != 1) return t;   /* a 0-d tensor, or a dim that is not 1: unchanged (PyTorch) */   /* as PyTorch: squeezing a dim that is not 1 changes nothing */
    for (i = 0; i < t->ndim; i++) if (i != dim) { sh[n] = t->shape[i]; st[n++] = t->stride[i]; }
    return ag__finish1(ag__view_of(t, n, sh, st, 0), AG__OP_squeeze, t);
}
AG_API ag_tensor *ag_unsqueeze(ag_tensor *t, int dim) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS] = {0}, st[AG_MAX_DIMS] = {0};
    int i, n = 0;
    if (!t) return NULL;
    if (t->ndim == AG_MAX_DIMS) { ag__fail(t->ctx, "unsqueeze: a tensor already has the maximum of %d dims", AG_MAX_DIMS); return NULL; }
    if (!ag__dim(t->ctx, "unsqueeze", t->ndim + 1, dim, &dim)) return NULL;
    for (i = 0; i <= t->ndim; i++) {
        if (i == dim) { sh[n] = 1; st[n++] = i < t->ndim ? t->shape[i] * t->stride[i] : 1; }
        if (i < t->ndim) { sh[n] = t->shape[i]; st[n++] = t->stride[i]; }
    }
    return ag__finish1(ag__view_of(t, n, sh, st, 0), AG__OP_unsqueeze, t);
}

AG_API ag_tensor *ag_transpose(ag_tensor *t, int d0, int d1) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS], st[AG_MAX_DIMS], tmp;   /* the t->ndim entries read are set below */
    int i;
    ag_tensor *y;
    if (!t || !ag__dim_s(t->ctx, "transpose", t->ndim, d0, &d0) || !ag__dim_s(t->ctx, "transpose", t->ndim, d1, &d1)) return NULL;
    if (t->ndim == 0) return t;   /* transpose(0-d, 0, -1): itself */
    for (i = 0; i < t->ndim; i++) { sh[i] = t->shape[i]; st[i] = t->stride[i]; }
    tmp = sh[d0]; sh[d0] = sh[d1]; sh[d1] = tmp;
    tmp = st[d0]; st[d0] = st[d1]; st[d1] = tmp;
    y = ag__view_of(t, t->ndim, sh, st, 0);
    if (y) { y->ip[0] = d0; y->ip[1] = d1; }
    return ag__finish1(y, AG__OP_transpose, t);
}
static int ag__bw_transpose(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = transpose(d y) */
    gin[0] = ag_transpose(g, (int)y->ip[0], (int)y->ip[1]);
    return 0;
}
static int ag__jvp_transpose(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = transpose(t_x) */
    (void)op; *out = ag_transpose(t[0], (int)y->ip[0], (int)y->ip[1]); return 0;
}

AG_API ag_tensor *ag_permute(ag_tensor *t, const int *perm) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS] = {0}, st[AG_MAX_DIMS] = {0};
    int i, seen = 0, p[AG_MAX_DIMS], *saved;
    ag_tensor *y;
    if (!t) return NULL;
    if (!perm && t->ndim > 0) { ag__fail(t->ctx, "permute: perm is NULL"); return NULL; }
    for (i = 0; i < t->ndim; i++) {
        if (!ag__dim(t->ctx, "permute", t->ndim, perm[i], &p[i])) return NULL;
        if (seen & (1 << p[i])) { ag__fail(t->ctx, "permute: dim %d appears twice", p[i]); return NULL; }
        seen |= 1 << p[i];
        sh[i] = t->shape[p[i]]; st[i] = t->stride[p[i]];
    }
    y = ag__view_of(t, t->ndim, sh, st, 0);
    saved = y ? (int *)ag__arena_alloc(t->ctx, sizeof(int) * AG_MAX_DIMS, 16) : NULL;
    if (!saved) return NULL;
    memcpy(saved, p, sizeof p);
    y->extra = saved;
    return ag__finish1(y, AG__OP_permute, t);
}
static int ag__bw_permute(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = permute(d y, inverse perm) */
    int inv[AG_MAX_DIMS], i;
    const int *p = (const int *)y->extra;
    for (i = 0; i < y->ndim; i++) inv[p[i]] = i;
    gin[0] = ag_permute(g, inv);
    return 0;
}
static int ag__jvp_permute(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = permute(t_x) */
    (void)op; *out = ag_permute(t[0], (const int *)y->extra); return 0;
}

AG_API ag_tensor *ag_expand(ag_tensor *t, int ndim, const int64_t *shape) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS], st[AG_MAX_DIMS], numel;   /* the ndim entries read are set below, or it fails */
    int i, off;
    char s1[200], s2[200];
    if (!t) return NULL;
    if (ndim > 0 && !shape) { ag__fail(t->ctx, "expand: shape is NULL for ndim %d", ndim); return NULL; }
    if (ndim < t->ndim || ndim > AG_MAX_DIMS) {
        ag__fail(t->ctx, "expand: cannot expand %s to %d dims", AG__SHAPE(s1, t), ndim);
        return NULL;
    }
    off = ndim - t->ndim;
    for (i = 0; i < ndim; i++) {
        int j = i - off;
        int64_t want = shape[i];
        if (j < 0) {
            if (want < 0) { ag__fail(t->ctx, "expand: size %lld is invalid for new dim %d", (long long)want, i); return NULL; }
            sh[i] = want; st[i] = 0;
        } else if (want == -1 || want == t->shape[j]) {
            sh[i] = t->shape[j]; st[i] = t->stride[j];
        } else if (t->shape[j] == 1 && want >= 0) {
            sh[i] = want; st[i] = 0;
        } else {
            ag__fail(t->ctx, "expand: cannot expand %s to %s (dim %d: %lld to %lld; only size-1 dims expand)", AG__SHAPE(s1, t),
                     ag__shape_str(s2, sizeof s2, ndim, shape), i, (long long)t->shape[j], (long long)want);
            return NULL;
        }
    }
    if (!ag__check_shape(t->ctx, "expand", ndim, sh, &numel)) return NULL;
    return ag__finish1(ag__view_of(t, ndim, sh, st, 0), AG__OP_expand, t);
}
static int ag__bw_expand(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y summed over the expanded dims */
    gin[0] = ag__sum_to(g, y->in[0]);
    return 0;
}

AG_API ag_tensor *ag_slice(ag_tensor *t, int dim, int64_t start, int64_t end, int64_t step) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS] = {0}, st[AG_MAX_DIMS] = {0}, n, len;
    int i;
    ag_tensor *y;
    if (!t || !ag__dim(t->ctx, "slice", t->ndim, dim, &dim)) return NULL;
    if (step <= 0) { ag__fail(t->ctx, "slice: step must be positive, got %lld", (long long)step); return NULL; }
    n = t->shape[dim];
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = start < 0 ? 0 : start > n ? n : start;
    end = end < start ? start : end > n ? n : end;
    len = end > start ? 1 + (end - start - 1) / step : 0;   /* no overflow for huge steps */
    for (i = 0; i < t->ndim; i++) { sh[i] = t->shape[i]; st[i] = t->stride[i]; }
    sh[dim] = len;
    st[dim] = len > 1 ? t->stride[dim] * step : t->stride[dim];   /* len > 1 implies step < size */
    y = ag__view_of(t, t->ndim, sh, st, start * t->stride[dim]);
    if (y) { y->ip[0] = dim; y->ip[1] = start; y->ip[2] = step; }
    return ag__finish1(y, AG__OP_slice, t);
}
AG_API ag_tensor *ag_narrow(ag_tensor *t, int dim, int64_t start, int64_t length) { t = ag__arg(t);
    int64_t n;
    if (!t || !ag__dim(t->ctx, "narrow", t->ndim, dim, &dim)) return NULL;
    n = t->shape[dim];
    if (start < 0) start += n;
    if (start < 0 || start > n || length < 0 || length > n - start) {
        ag__fail(t->ctx, "narrow: start %lld and length %lld do not fit in dim %d of size %lld", (long long)start,
                 (long long)length, dim, (long long)n);
        return NULL;
    }
    return ag_slice(t, dim, start, start + length, 1);
}
/* zeros of x's shape with g placed where the slice was */
static ag_tensor *ag__slice_backward(ag_tensor *g, const ag_tensor *x, int dim, int64_t start, int64_t step) {
    ag_tensor *y, *win;
    int64_t st[AG_MAX_DIMS] = {0};
    int i;
    if (!g) return NULL;
    if (g->vb) {   /* inside ag_vmap: every example at once, the levels in front */
        ag_tensor whole;
        int64_t sh[AG_MAX_DIMS], wst[AG_MAX_DIMS];
        const ag__vbatch *u = g->vb;
        if (u->n + x->ndim > AG_MAX_DIMS) { ag__fail(g->ctx, "slice: %d dims and %d levels of ag_vmap are more than %d dims", x->ndim, u->n, AG_MAX_DIMS); return NULL; }
        ag__vmap_whole(&whole, sh, wst, x, u, x->ndim, NULL);   /* only its shape is read */
        return ag__vmap_cover(ag__slice_backward(ag__vmap_expose(g, u), &whole, dim + u->n, start, step), u);
    }
    y = ag__result(g->ctx, g->dtype, x->ndim, x->shape, 1);
    if (!y) return NULL;
    for (i = 0; i < x->ndim; i++) st[i] = y->stride[i];
    if (g->shape[dim] > 1) st[dim] *= step;   /* then step < size: no overflow (as in ag_slice) */
    win = ag__view_of(y, g->ndim, g->shape, st, start * y->stride[dim]);
    if (!win) return NULL;
    ag__copy_into(win, g);
    y->ip[0] = dim; y->ip[1] = start; y->ip[2] = step;
    return ag__finish1(y, AG__OP_slice_backward, g);
}
static int ag__bw_slice(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = zeros with d y in the slice */
    gin[0] = ag__slice_backward(g, y->in[0], (int)y->ip[0], y->ip[1], y->ip[2]);
    return 0;
}
static int ag__jvp_slice(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = the same slice of t_x */
    int dim = (int)y->ip[0];
    int64_t len = y->shape[dim], start = y->ip[1], step = y->ip[2];
    (void)op;
    *out = ag_slice(t[0], dim, start, len ? start + (len - 1) * step + 1 : start, step);
    return 0;
}
static int ag__bw_slice_backward(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d g = the slice of d y */
    int dim = (int)y->ip[0];
    int64_t len = y->in[0]->shape[dim];
    gin[0] = ag_slice(g, dim, y->ip[1], y->ip[1] + (len - 1) * y->ip[2] + 1, y->ip[2]);
    return 0;
}
static int ag__jvp_slice_backward(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = zeros with t_g in the slice */
    (void)op; *out = ag__slice_backward(t[0], y, (int)y->ip[0], y->ip[1], y->ip[2]); return 0;
}

AG_API ag_tensor *ag_cat(ag_tensor *const *ts, int n, int dim) {
    ag_tensor **in, *y, *first = NULL;
    ag__vbatch u;
    ag_ctx *ctx;
    int64_t sh[AG_MAX_DIMS] = {0}, off = 0;
    int i, j, dtype = AG_F32;
    char s1[200], s2[200];
    if (!ts || n <= 0) return NULL;   /* no tensor, no context to report to */
    if (!ag__live_list("cat", NULL, n, ts)) return NULL;
    for (i = 0; i < n && !first; i++) first = ts[i];
    if (!first) return NULL;
    ctx = first->ctx;
    for (i = 0; i < n; i++) {
        if (!ts[i]) { ag__fail(ctx, "cat: tensor %d is NULL", i); return NULL; }
        if (ts[i]->ctx != ctx) { ag__fail(ctx, "cat: tensors belong to different contexts"); return NULL; }
        dtype = i ? ag__promote_types(dtype, ts[i]->dtype) : ts[i]->dtype;
    }
    if (first->ndim == 0) { ag__fail(ctx, "cat: 0-d tensors cannot be concatenated (use ag_stack)"); return NULL; }
    if (!ag__dim(ctx, "cat", first->ndim, dim, &dim)) return NULL;
    for (j = 0; j < first->ndim; j++) sh[j] = first->shape[j];
    sh[dim] = 0;
    for (i = 0; i < n; i++) {
        bool ok = ts[i]->ndim == first->ndim;
        for (j = 0; ok && j < first->ndim; j++) if (j != dim && ts[i]->shape[j] != first->shape[j]) ok = false;
        if (!ok) {
            ag__fail(ctx, "cat: tensor %d has shape %s, expected %s except in dim %d", i, AG__SHAPE(s1, ts[i]), AG__SHAPE(s2, first), dim);
            return NULL;
        }
        sh[dim] += ts[i]->shape[dim];
    }
    in = ag__ptr_alloc(ctx, n);
    if (!in || !ag__vmap_union(ctx, "cat", n, ts, &u)) return NULL;
    if (u.n) {   /* inside ag_vmap: every example's tensors at once, the levels in front */
        for (i = 0; i < n; i++) if (!(in[i] = ag__vmap_expose(ag_to(ts[i], (ag_dtype)dtype), &u))) return NULL;
        return ag__vmap_cover(ag_cat(in, n, dim + u.n), &u);
    }
    y = ag__result(ctx, dtype, first->ndim, sh, n);
    if (!y) return NULL;
    for (i = 0; i < n; i++) {
        ag_tensor *win;
        in[i] = ag_to(ts[i], (ag_dtype)dtype);   /* mixed dtypes promote, as PyTorch */
        if (!in[i]) return NULL;
        for (j = 0; j < y->ndim; j++) sh[j] = in[i]->shape[j];
        win = ag__view_of(y, y->ndim, sh, y->stride, off * y->stride[dim]);
        if (!win) return NULL;
        ag__copy_into(win, in[i]);
        off += in[i]->shape[dim];
    }
    y->ip[0] = dim;
    return ag__finish(y, AG__OP_cat, n, in);
}
static int ag__bw_cat(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x_i = the slice of d y where x_i went */
    int i, dim = (int)y->ip[0];
    int64_t off = 0;
    for (i = 0; i < y->nin; i++) {
        int64_t len = y->in[i]->shape[dim];
        if (AG__NEED(i)) gin[i] = ag_slice(g, dim, off, off + len, 1);
        off += len;
    }
    return 0;
}
static int ag__jvp_cat(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = cat(t_x_i), zeros where none */
    ag_tensor **ts = ag__ptr_alloc(y->ctx, y->nin);
    int i;
    (void)op;
    if (!ts) return -1;
    for (i = 0; i < y->nin; i++) {
        ag_tensor *x = y->in[i];
        ts[i] = t[i] ? t[i] : ag_zeros(y->ctx, (ag_dtype)x->dtype, x->ndim, x->shape);
    }
    *out = ag_cat(ts, y->nin, (int)y->ip[0]);
    return 0;
}
AG_API ag_tensor *ag_stack(ag_tensor *const *ts, int n, int dim) {
    ag_tensor **u, *first = NULL;
    int i;
    if (!ts || n <= 0 || !ag__live_list("stack", NULL, n, ts)) return NULL;
    for (i = 0; i < n && !first; i++) first = ts[i];
    if (!first) return NULL;
    for (i = 0; i < n; i++) if (!ts[i]) { ag__fail(first->ctx, "stack: tensor %d is NULL", i); return NULL; }
    for (i = 0; i < n; i++) {
        char s1[200], s2[200];
        int j;
        bool same = ts[i]->ndim == first->ndim;
        for (j = 0; same && j < first->ndim; j++) same = ts[i]->shape[j] == first->shape[j];
        if (!same) { ag__fail(first->ctx, "stack: tensor %d has shape %s, expected %s", i, AG__SHAPE(s1, ts[i]), AG__SHAPE(s2, first)); return NULL; }
    }
    if (!ag__dim(first->ctx, "stack", first->ndim + 1, dim, &dim)) return NULL;
    u = ag__ptr_alloc(first->ctx, n);
    if (!u) return NULL;
    for (i = 0; i < n; i++) if (!(u[i] = ag_unsqueeze(ts[i], dim))) return NULL;
    return ag_cat(u, n, dim);
}

/* ---- row gather / scatter (embedding lookup; the target pick of cross_entropy) ---- */
/* y[idx[i]] += g[i] over zeros, g contiguous; idx, n and the row count in y->extra, ip (the kernel, also run by ag_replay) */
static void ag__scatter_rows_run(ag_tensor *y, const ag_tensor *g) {
    const int64_t *idx = (const int64_t *)y->extra;
    int64_t n = y->ip[0], rows = y->ip[1], row = rows ? y->numel / rows : 0, i, j;
    memset(y->data, 0, (size_t)y->numel * ag__esize(y->dtype));
    for (i = 0; i < n; i++)
        for (j = 0; j < row; j++) {
            if (y->dtype == AG_F32) ((float *)y->data)[idx[i] * row + j] += ((const float *)g->data)[i * row + j];
            else ((double *)y->data)[idx[i] * row + j] += ((const double *)g->data)[i * row + j];
        }
}
static bool ag__rerun_scatter_add_rows(int op, ag_tensor *y) { (void)op; ag__scatter_rows_run(y, y->in[0]); return true; }
/* y[i] = table[idx[i]], table contiguous (the kernel, also run by ag_replay) */
static void ag__gather_run(ag_tensor *y, const ag_tensor *table) {
    const int64_t *idx = (const int64_t *)y->extra;
    int64_t n = y->ip[0], row = table->shape[0] ? table->numel / table->shape[0] : 0, i;
    size_t es = ag__esize(table->dtype);
    for (i = 0; i < n; i++) memcpy(y->data + (size_t)(i * row) * es, table->data + (size_t)(idx[i] * row) * es, (size_t)row * es);
}
static bool ag__rerun_gather_rows(int op, ag_tensor *y) { (void)op; ag__gather_run(y, y->in[0]); return true; }
/* gather_rows: y [n, ...] = x[idx] (x's first dim stays in ip[1] for the backward);
   scatter_add_rows: y [rows, ...] = 0, y[idx[i]] += x[i]. idx has n entries, x is made contiguous. */
static ag_tensor *ag__rows(int op, ag_tensor *x, int64_t n, const int64_t *idx, int64_t rows) {
    int64_t sh[AG_MAX_DIMS] = {0};
    ag_tensor *y;
    int k;
    bool gather = op == AG__OP_gather_rows;
    if (!x || !(x = ag_contiguous(x))) return NULL;
    sh[0] = gather ? n : rows;
    for (k = 1; k < x->ndim; k++) sh[k] = x->shape[k];
    y = ag__result_raw(x->ctx, x->dtype, x->ndim, sh, 1);
    if (!y) return NULL;
    y->extra = (void *)idx; y->ip[0] = n; y->ip[1] = gather ? x->shape[0] : rows;
    if (gather) ag__gather_run(y, x); else ag__scatter_rows_run(y, x);
    return ag__finish1(y, op, x);
}
#define ag__gather(table, n, idx) ag__rows(AG__OP_gather_rows, table, n, idx, 0)
#define ag__scatter_rows(g, n, idx, rows) ag__rows(AG__OP_scatter_add_rows, g, n, idx, rows)
static int ag__bw_gather_rows(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d table[idx[i]] += d y[i] */
    gin[0] = ag__scatter_rows(g, y->ip[0], (const int64_t *)y->extra, y->ip[1]);
    return 0;
}
static int ag__jvp_gather_rows(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_table[idx] */
    (void)op; *out = ag__gather(t[0], y->ip[0], (const int64_t *)y->extra); return 0;
}
static int ag__bw_scatter_add_rows(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d g[i] = d y[idx[i]] */
    gin[0] = ag__gather(g, y->ip[0], (const int64_t *)y->extra);
    return 0;
}
static int ag__jvp_scatter_add_rows(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y[idx[i]] += t_g[i] */
    (void)op; *out = ag__scatter_rows(t[0], y->ip[0], (const int64_t *)y->extra, y->ip[1]); return 0;
}
AG_API ag_tensor *ag_gather_rows(ag_tensor *table, int64_t n, const int32_t *index) { table = ag__arg(table);
    ag__index r;
    char s[100];
    memset(&r, 0, sizeof r);
    if (!table) return NULL;
    if (table->ndim < 1) { ag__fail(table->ctx, "gather_rows: the table must have at least 1 dim, got a 0-d tensor"); return NULL; }
    if (n < 0 || (n > 0 && !index)) { ag__fail(table->ctx, "gather_rows: %s index of %lld entries", index ? "invalid" : "NULL", (long long)n); return NULL; }
    r.op = "gather_rows"; r.what = "index"; r.where = "position";
    r.index = index; r.n = n; r.stride = 0; r.bound = table->shape[0];
    ag__format(r.range, sizeof r.range, "a table of shape %s", AG__SHAPE(s, table));
    r.idx = ag__index_alloc(table->ctx, "gather_rows", n);
    if (!r.idx || !ag__index_take(table->ctx, &r)) return NULL;
    return ag__gather(table, n, r.idx);
}

/* ---- unfold / fold: the windows of a 2-D convolution or pool (im2col), and their adjoint ----
   unfold(x [A, B, H, W]) = the kh*kw windows, element (a, b, k = i kw + j, oh, ow) =
   x[a, b, oh sh + i dh - ph, ow sw + j dw - pw] (pad outside), stored as [A, K, B, OH, OW]
   (at = 1: a convolution's columns, one GEMM per group) or [A, B, K, OH, OW] (at = 2: pools).
   fold is its adjoint: each window element added back where it came from (padding dropped). */
typedef struct ag__win {
    int kh, kw, sh, sw, dh, dw, ph, pw, at;
    int64_t A, B, H, W, OH, OW;
    double pad;   /* the padding's value: 0, or -inf for max pooling */
} ag__win;
static int64_t ag__win_row(const ag__win *g, int64_t a, int64_t b, int64_t k, int64_t oh) {   /* a window row's offset */
    int64_t K = (int64_t)g->kh * g->kw;
    return (g->at == 1 ? ((a * K + k) * g->B + b) : ((a * g->B + b) * K + k)) * g->OH * g->OW + oh * g->OW;
}
/* the outputs ow whose input column ow sw + off lies in [0, W): [*lo, *hi) */
static void ag__win_cols(const ag__win *g, int64_t off, int64_t *lo, int64_t *hi) {
    *lo = off >= 0 ? 0 : g->sw == 1 ? -off : (-off + g->sw - 1) / g->sw;
    *hi = g->W - 1 - off < 0 ? 0 : g->sw == 1 ? g->W - off : (g->W - 1 - off) / g->sw + 1;
    if (*hi > g->OW) *hi = g->OW;
    if (*lo > *hi) *lo = *hi;
}
/* a row of cols (below) as (a, i, j): R = a kh kw + i kw + j; ag__win_next steps to R + 1 */
typedef struct { int64_t a, i, j; } ag__win_rc;
static ag__win_rc ag__win_rc_of(const ag__win *g, int64_t R) {
    ag__win_rc p;
    int64_t K = (int64_t)g->kh * g->kw;
    p.a = R / K; p.i = R % K / g->kw; p.j = R % g->kw;
    return p;
}
static void ag__win_next(const ag__win *g, ag__win_rc *p) {
    if (++p->j == g->kw) { p->j = 0; if (++p->i == g->kh) { p->i = 0; p->a++; } }
}
/* ag__win_line_<t>: dst[0:n] = cols[R, c0:c0 + n], cols = the windows as a matrix [A kh kw, B OH OW]: row
   R = (a, i, j) as above, column c0 = b OH OW + r, r = oh OW + ow; x [A, B, H, W] with strides xs.
   Every layout of unfold and the GEMM's operands made from x (ag__win_rect) read the windows through it.
   ag__fold_<t>: y += each window element, added back where it came from (padding dropped) */
#define AG__DEF_WIN_KERNELS(T, SUF) \
static void ag__win_line_##SUF(const ag__win *g, T *dst, const T *x, const int64_t *xs, ag__win_rc rc, int64_t b, int64_t r, int64_t n) { \
    int64_t off = rc.j * g->dw - g->pw, L = g->OH * g->OW, lo, hi, e, step = g->sw * xs[3]; \
    T pad = (T)g->pad; \
    ag__win_cols(g, off, &lo, &hi); \
    if (g->sh == 1 && step == 1 && g->OW == g->W && xs[2] == g->W) { \
        /* stride 1, "same" width, planes dense: a plane's windows are the plane shifted by (i dh - ph) W + off, \
           then the rows outside x and the columns outside [lo, hi) set to pad */ \
        int64_t shift = (rc.i * g->dh - g->ph) * g->W + off, HW = g->H * g->W; \
        int64_t v0 = (g->ph - rc.i * g->dh) * g->OW, v1 = (g->H + g->ph - rc.i * g->dh) * g->OW;   /* the rows inside x, */ \
        if (v0 < -shift) v0 = -shift; \
        if (v1 > HW - shift) v1 = HW - shift;   /* and the columns whose source is in the plane */ \
        while (n > 0) { \
            int64_t m = L - r < n ? L - r : n, s0 = v0 > r ? v0 : r, s1 = v1 < r + m ? v1 : r + m, cw; \
            const T *src = x + rc.a * xs[0] + b * xs[1]; \
            if (s0 > r + m) s0 = r + m;   /* a piece inside the top padding rows: all pad, and no further */ \
            if (s1 < s0) s1 = s0; \
            for (e = r; e < s0; e++) dst[e - r] = pad; \
            memcpy(dst + s0 - r, src + (s0 + shift), sizeof(T) * (size_t)(s1 - s0)); \
            for (e = s1; e < r + m; e++) dst[e - r] = pad; \
            if (lo > 0 || hi < g->OW)   /* in the rows inside x, the columns outside x: [0, lo) and [hi, OW), each down the rows */ \
                for (cw = 0; cw < g->OW; cw++) { \
                    if (cw == lo) cw = hi; \
                    if (cw >= g->OW) break; \
                    for (e = s0 - s0 % g->OW + cw, e += e < s0 ? g->OW : 0; e < s1; e += g->OW) dst[e - r] = pad; \
                } \
            dst += m; n -= m; r = 0; b++; \
        } \
        return; \
    } \
    { \
        int64_t oh = r / g->OW, ow = r % g->OW; \
        while (n > 0) {   /* one output row (b, oh) at a time: [ow, end) */ \
            int64_t end = g->OW - ow < n ? g->OW : ow + n, ih = oh * g->sh + rc.i * g->dh - g->ph; \
            int64_t s0 = lo > ow ? lo : ow, s1 = hi < end ? hi : end;   /* [s0, s1): inside x */ \
            if (ih < 0 || ih >= g->H) s0 = s1 = end; \
            if (s1 < s0) s1 = s0; \
            for (e = ow; e < s0; e++) dst[e - ow] = pad; \
            if (s0 < s1) { \
                const T *src = x + rc.a * xs[0] + b * xs[1] + ih * xs[2] + off * xs[3]; \
                if (step == 1) memcpy(dst + s0 - ow, src + s0, sizeof(T) * (size_t)(s1 - s0)); \
                else for (e = s0; e < s1; e++) dst[e - ow] = src[e * step]; \
            } \
            for (e = s1; e < end; e++) dst[e - ow] = pad; \
            dst += end - ow; n -= end - ow; ow = 0; \
            if (++oh == g->OH) { oh = 0; b++; } \
        } \
    } \
} \
static void ag__fold_##SUF(const ag__win *g, T *y, const T *c, int64_t a0, int64_t a1) { \
    int64_t a, b, k, oh, ow, lo, hi, K = (int64_t)g->kh * g->kw; \
    memset(y + a0 * g->B * g->H * g->W, 0, sizeof(T) * (size_t)((a1 - a0) * g->B * g->H * g->W)); \
    if (g->A == 0 || g->B == 0 || g->OH == 0 || g->OW == 0) return; \
    for (a = a0; a < a1; a++) for (b = 0; b < g->B; b++) for (k = 0; k < K; k++) { \
        int64_t i = k / g->kw, off = (k % g->kw) * g->dw - g->pw; \
        ag__win_cols(g, off, &lo, &hi); \
        for (oh = 0; oh < g->OH; oh++) { \
            const T *src = c + ag__win_row(g, a, b, k, oh); \
            int64_t ih = oh * g->sh + i * g->dh - g->ph; \
            T *dst = y + ((a * g->B + b) * g->H + ih) * g->W + off; \
            if (ih < 0 || ih >= g->H) continue; \
            for (ow = lo; ow < hi; ow++) dst[ow * g->sw] += src[ow]; \
        } \
    } \
} \
/* unfold of x's first-dim indices [a0, a1): the rows of cols, [A, K, B, OH, OW] (at = 1) or [A, B, K, OH, OW] */ \
static void ag__unfold_##SUF(const ag__win *g, T *y, const T *x, const int64_t *xs, int64_t a0, int64_t a1) { \
    int64_t a, b, k, K = (int64_t)g->kh * g->kw, L = g->OH * g->OW; \
    ag__win_rc rc; \
    if (g->A == 0 || g->B == 0 || L == 0) return;   /* empty: no loop over the other dims */ \
    for (rc = ag__win_rc_of(g, a0 * K), a = a0; a < a1; a++) for (k = 0; k < K; k++, ag__win_next(g, &rc)) { \
        if (g->at == 1) ag__win_line_##SUF(g, y + (a * K + k) * g->B * L, x, xs, rc, 0, 0, g->B * L); \
        else for (b = 0; b < g->B; b++) ag__win_line_##SUF(g, y + ((a * g->B + b) * K + k) * L, x, xs, rc, b, 0, L); \
    } \
} \
/* dst[r ld + c] = cols[R0 + r, c0 + c] for r < nrows, c < ncols, zero up to ld: the GEMM's operand \
   made from x (ag__gemm_win), B's rows for a tile of columns or A's rows for a k-block */ \
static void ag__win_rect_##SUF(const ag__win *g, const T *x, const int64_t *xs, T *dst, int64_t ld, int64_t R0, \
                               int64_t nrows, int64_t c0, int64_t ncols) { \
    int64_t r, e, L = g->OH * g->OW; \
    ag__win_rc rc = ag__win_rc_of(g, R0); \
    for (r = 0; r < nrows; r++, ag__win_next(g, &rc)) { \
        ag__win_line_##SUF(g, dst + r * ld, x, xs, rc, c0 / L, c0 % L, ncols); \
        for (e = ncols; e < ld; e++) dst[r * ld + e] = 0; \
    } \
}
AG__DEF_WIN_KERNELS(float, f32)
AG__F64(AG__DEF_WIN_KERNELS(double, f64))
/* the kernels, also run by ag_replay: y = unfold(x) (x any strides), y = fold(c) (c contiguous);
   on the pool one task per index a of the first dim (disjoint outputs, each in the same order) */
typedef struct { ag_tensor *y; const ag_tensor *x; bool fold; } ag__win_job;
static void ag__win_rect(const ag__gemm_job *j, char *dst, int64_t ld, int64_t R0, int64_t nrows, int64_t c0, int64_t ncols) {
    const ag__gemm_win *w = j->win;
    if (j->dtype == AG_F32) ag__win_rect_f32(w->g, (const float *)w->x, w->xs, (float *)(void *)dst, ld, R0, nrows, c0, ncols);
    AG__F64(else ag__win_rect_f64(w->g, (const double *)w->x, w->xs, (double *)(void *)dst, ld, R0, nrows, c0, ncols);)
}
static void ag__win_range(const ag__win_job *j, int64_t a0, int64_t a1) {   /* first-dim indices [a0, a1) */
    const ag__win *g = (const ag__win *)j->y->extra;
    if (j->fold) {
        if (j->y->dtype == AG_F32) ag__fold_f32(g, (float *)j->y->data, (const float *)j->x->data, a0, a1);
        AG__F64(else ag__fold_f64(g, (double *)j->y->data, (const double *)j->x->data, a0, a1);)
    } else {
        if (j->y->dtype == AG_F32) ag__unfold_f32(g, (float *)j->y->data, (const float *)j->x->data, j->x->stride, a0, a1);
        AG__F64(else ag__unfold_f64(g, (double *)j->y->data, (const double *)j->x->data, j->x->stride, a0, a1);)
    }
}
static void ag__win_task(void *arg, int a) { ag__win_range((const ag__win_job *)arg, a, a + 1); }
static void ag__win_run(ag_tensor *y, const ag_tensor *x, bool fold) {
    ag__win_job j;
    int64_t A = ((const ag__win *)y->extra)->A;
    j.y = y; j.x = x; j.fold = fold;
    if (y->ctx->threads > 1 && A > 1 && y->numel >= 2 * AG__MAP_CHUNK) ag__parallel(y->ctx, false, ag__win_task, &j, (int)A);
    else ag__win_range(&j, 0, A);
}
static void ag__unfold_run(ag_tensor *y, const ag_tensor *x) { ag__win_run(y, x, false); }
static bool ag__rerun_unfold(int op, ag_tensor *y) { (void)op; ag__unfold_run(y, y->in[0]); return true; }
static void ag__fold_run(ag_tensor *y, const ag_tensor *c) { ag__win_run(y, c, true); }
static bool ag__rerun_fold(int op, ag_tensor *y) { (void)op; ag__fold_run(y, y->in[0]); return true; }
/* the geometry g, with the padding value pad, in the arena (the op's extra) */
static ag__win *ag__win_copy(ag_ctx *ctx, const ag__win *g, double pad) {
    ag__win *w = (ag__win *)ag__arena_alloc(ctx, sizeof *w, 16);
    if (w) { *w = *g; w->pad = pad; }
    return w;
}
static ag_tensor *ag__unfold(ag_tensor *x, const ag__win *g, double pad) {
    int64_t sh[5], K = (int64_t)g->kh * g->kw;
    ag_tensor *y;
    ag__win *w;
    if (!x) return NULL;
    sh[0] = g->A; sh[1] = g->at == 1 ? K : g->B; sh[2] = g->at == 1 ? g->B : K; sh[3] = g->OH; sh[4] = g->OW;
    w = ag__win_copy(x->ctx, g, pad);
    y = w ? ag__result_raw(x->ctx, x->dtype, 5, sh, 1) : NULL;
    if (!y) return NULL;
    y->extra = w;
    ag__unfold_run(y, x);
    return ag__finish1(y, AG__OP_unfold, x);
}
static ag_tensor *ag__fold(ag_tensor *c, const ag__win *g) {
    int64_t sh[4];
    ag_tensor *y;
    ag__win *w;
    if (!c || !(c = ag_contiguous(c))) return NULL;
    sh[0] = g->A; sh[1] = g->B; sh[2] = g->H; sh[3] = g->W;
    w = ag__win_copy(c->ctx, g, 0.0);
    y = w ? ag__result_raw(c->ctx, c->dtype, 4, sh, 1) : NULL;
    if (!y) return NULL;
    y->extra = w;
    ag__fold_run(y, c);
    return ag__finish1(y, AG__OP_fold, c);
}
static int ag__bw_unfold(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = fold(d y) */
    gin[0] = ag__fold(g, (const ag__win *)y->extra);
    return 0;
}
static int ag__jvp_unfold(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = unfold(t_x), zero padding */
    (void)op; *out = ag__unfold(t[0], (const ag__win *)y->extra, 0.0); return 0;
}
static int ag__bw_fold(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d c = unfold(d y), zero padding */
    gin[0] = ag__unfold(g, (const ag__win *)y->extra, 0.0);
    return 0;
}
static int ag__jvp_fold(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = fold(t_c) */
    (void)op; *out = ag__fold(t[0], (const ag__win *)y->extra); return 0;
}

/* ---- conv2d's products, the windows read from x in place (implicit im2col) ----
   With cols = unfold(x) ([C kh kw, N OH OW], x [N, C, H, W] seen as [C, N, H, W]) and W as
   W2 [G, O/G, C/G kh kw], group q's rows of cols being [q C/G kh kw, (q + 1) C/G kh kw):
     conv2d         y [G, O/G, N OH OW]    = W2 @ cols(x)     per group
     conv2d_weight  y [G, O/G, C/G kh kw]  = g @ cols(x)^T    (conv2d's gradient in W2)
   The GEMM makes its operand from x a tile at a time (ag__gemm_win): B's rows for conv2d, A's rows
   for conv2d_weight, computed as y^T = cols(x) @ g^T. So cols, 9x x's size for a 3 x 3 kernel, is
   never in memory. Both ops are linear in each input: in[0] (W2 or g), in[1] = x; the geometry
   (ag__win over x as [C, N, H, W]) is the op's extra. */
static bool ag__conv_run(ag_tensor *y, const ag_tensor *a, const ag_tensor *x, int op) {
    const ag__win *g = (const ag__win *)y->extra;
    int64_t G = a->shape[0], M = a->shape[1], K = (int64_t)g->kh * g->kw * (g->A / G), L = g->B * g->OH * g->OW, q;
    size_t es = ag__esize(y->dtype);
    ag__gemm_win w;
    w.g = g; w.x = x->data; w.a_side = op == AG__OP_conv2d_weight;
    w.xs[0] = x->stride[1]; w.xs[1] = x->stride[0]; w.xs[2] = x->stride[2]; w.xs[3] = x->stride[3];
    for (q = 0; q < G; q++) {
        const char *aq = a->data + q * a->stride[0] * (int64_t)es;
        char *yq = y->data + q * M * y->shape[2] * (int64_t)es;
        bool ok;
        w.r0 = q * K;
        if (!w.a_side) ok = ag__gemm_t(y->ctx, y->dtype, M, L, K, aq, a->stride[1], a->stride[2], NULL, 0, 1, yq, NULL, &w);
        else {   /* y^T [C/G kh kw, O/G] = cols(x) @ g^T: A made from x row by row, read in place; y its transpose */
            ag__mark m = ag__arena_mark(y->ctx);
            void *ct = ag__arena_alloc(y->ctx, (size_t)(K * M) * es, AG__DATA_ALIGN);
            ok = ct && ag__gemm_t(y->ctx, y->dtype, K, M, L, NULL, 0, 0, aq, a->stride[2], a->stride[1], ct, yq, &w);
            ag__arena_release(y->ctx, m);
        }
        if (!ok) return false;
    }
    return true;
}
static bool ag__rerun_conv2d(int op, ag_tensor *y) { return ag__conv_run(y, y->in[0], y->in[1], op); }
/* op(a, x) with the geometry g: a [G, O/G, C/G kh kw] (conv2d) or [G, O/G, N OH OW] (conv2d_weight), one dtype */
static ag_tensor *ag__conv_op(int op, ag_tensor *a, ag_tensor *x, const ag__win *g) {
    int64_t sh[3];
    ag_tensor *y;
    ag__win *w;
    if (!a || !x) return NULL;
    sh[0] = a->shape[0]; sh[1] = a->shape[1];
    sh[2] = op == AG__OP_conv2d ? g->B * g->OH * g->OW : g->A / a->shape[0] * g->kh * g->kw;
    w = ag__win_copy(x->ctx, g, 0.0);
    y = w ? ag__result_raw(x->ctx, x->dtype, 3, sh, 2) : NULL;
    if (!y) return NULL;
    y->extra = w;
    if (!ag__conv_run(y, a, x, op)) return NULL;
    return ag__finish2(y, op, a, x);
}
/* d x [N, C, H, W] of sum(gy * (W2 @ cols(x))) = cols^T(W2^T @ gy) (W2 [G, O/G, C/G kh kw], gy [G, O/G, N OH OW]).
   At stride 1 that is a convolution of gy [N, O, OH, OW] with W flipped and each group's in and out
   channels swapped, padded by dilation (k - 1) - pad (negative: a crop), made from gy's windows as
   above; at other strides the product and fold (its [C kh kw, N OH OW] columns in memory) */
static ag_tensor *ag__conv_dx(ag_tensor *W2, ag_tensor *gy, const ag__win *g) {
    static const int swap01[4] = { 1, 0, 2, 3 }, flip34[2] = { 3, 4 };
    int64_t G = W2->shape[0], Og = W2->shape[1], Cg = g->A / G, sh[5];
    if (g->sh == 1 && g->sw == 1) {
        ag__win t = *g;
        ag_tensor *wt, *y;
        t.A = G * Og; t.H = g->OH; t.W = g->OW; t.OH = g->H; t.OW = g->W;
        t.ph = g->dh * (g->kh - 1) - g->ph; t.pw = g->dw * (g->kw - 1) - g->pw;
        sh[0] = G; sh[1] = Og; sh[2] = Cg; sh[3] = g->kh; sh[4] = g->kw;
        wt = ag_transpose(ag_flip(ag_reshape(W2, 5, sh), 2, flip34), 1, 2);        /* [G, C/G, O/G, kh, kw] */
        sh[0] = G; sh[1] = Cg; sh[2] = Og * g->kh * g->kw;
        wt = ag_reshape(ag_contiguous(wt), 3, sh);
        sh[0] = G * Og; sh[1] = g->B; sh[2] = g->OH; sh[3] = g->OW;
        y = ag__conv_op(AG__OP_conv2d, wt, ag_permute(ag_reshape(gy, 4, sh), swap01), &t);   /* [G, C/G, N H W] */
        sh[0] = g->A; sh[1] = g->B; sh[2] = g->H; sh[3] = g->W;
        return ag_permute(ag_reshape(y, 4, sh), swap01);
    }
    sh[0] = g->A; sh[1] = (int64_t)g->kh * g->kw; sh[2] = g->B; sh[3] = g->OH; sh[4] = g->OW;
    return ag_permute(ag__fold(ag_reshape(ag_matmul(ag_transpose(W2, 1, 2), gy), 5, sh), g), swap01);
}
static int ag__bw_conv2d(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d W2 = g @ cols(x)^T, d x = cols^T(W2^T @ g) */
    const ag__win *w = (const ag__win *)y->extra;
    if (AG__NEED(0)) gin[0] = ag__conv_op(AG__OP_conv2d_weight, g, y->in[1], w);
    if (AG__NEED(1)) gin[1] = ag__conv_dx(y->in[0], g, w);
    return 0;
}
static int ag__bw_conv2d_weight(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* y = a @ cols(x)^T: d a = g @ cols(x), d x = cols^T(g^T @ a) */
    const ag__win *w = (const ag__win *)y->extra;
    if (AG__NEED(0)) gin[0] = ag__conv_op(AG__OP_conv2d, g, y->in[1], w);
    if (AG__NEED(1)) gin[1] = ag__conv_dx(g, y->in[0], w);
    return 0;
}
static int ag__jvp_conv2d(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* bilinear: t_y = op(t_a, x) + op(a, t_x) */
    const ag__win *w = (const ag__win *)y->extra;
    *out = ag__jvp_plus(t[0] ? ag__conv_op(op, t[0], y->in[1], w) : NULL, t[1] ? ag__conv_op(op, y->in[0], t[1], w) : NULL);
    return 0;
}

/* ---- elementwise, two inputs, broadcasting ---- */
/* PyTorch's promotion: by category (bool < integer < floating point) and then width; a 0-d
   tensor does not promote one with dims unless its category is higher */
static int ag__result_dtype(const ag_tensor *a, const ag_tensor *b) {
    if (a->dtype == b->dtype) return a->dtype;
    if ((a->ndim == 0) != (b->ndim == 0)) {   /* a 0-d z and a t with dims */
        const ag_tensor *z = a->ndim == 0 ? a : b, *t = a->ndim == 0 ? b : a;
        return ag__category(z->dtype) > ag__category(t->dtype) ? z->dtype : t->dtype;
    }
    return ag__promote_types(a->dtype, b->dtype);
}
static bool ag__broadcast_shape(const char *op, const ag_tensor *a, const ag_tensor *b, int *ndim, int64_t *shape) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim, i;
    char s1[200], s2[200];
    for (i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            ag__fail(a->ctx, "%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", op, AG__SHAPE(s1, a), AG__SHAPE(s2, b),
                     i, (long long)da, (long long)db);
            return false;
        }
        shape[i] = da == 1 ? db : da;
    }
    *ndim = nd;
    return true;
}
/* a dense row shared out on the pool in chunks of AG__MAP_CHUNK elements (elementwise: each element
   is computed as in one long row, so the same bits for any number of threads) */
typedef struct { ag__row_fn row; const void *k; char *p[3]; int64_t st[3], esz[3], n; } ag__map_job;
/* the dense case of ag__map_run: every operand contiguous, of y's size or a single element (stride 0) */
static void ag__map_dense(ag__map_job *j, ag__row_fn row, const void *k, const ag_tensor *y, const ag_tensor *a, const ag_tensor *b) {
    j->row = row; j->k = k; j->n = y->numel;
    j->p[0] = y->data; j->p[1] = a->data; j->p[2] = b ? b->data : NULL;
    j->st[0] = 1; j->st[1] = a->numel == y->numel; j->st[2] = b && b->numel == y->numel;
    j->esz[0] = (int64_t)ag__esize(y->dtype); j->esz[1] = (int64_t)ag__esize(a->dtype); j->esz[2] = b ? (int64_t)ag__esize(b->dtype) : 0;
}
static void ag__map_range(const ag__map_job *j, int64_t off, int64_t n) {   /* elements [off, off + n) */
    char *p[3];
    int o;
    for (o = 0; o < 3; o++) p[o] = j->p[o] ? j->p[o] + off * j->st[o] * j->esz[o] : NULL;
    j->row(j->k, n, p, j->st);
}
static void ag__map_task(void *arg, int t) {
    const ag__map_job *j = (const ag__map_job *)arg;
    int64_t off = (int64_t)t * AG__MAP_CHUNK;
    ag__map_range(j, off, j->n - off < AG__MAP_CHUNK ? j->n - off : AG__MAP_CHUNK);
}
/* how many of rows (n elements in all) a task takes when they are shared out: all of them (one task)
   on one thread or below 2 AG__MAP_CHUNK elements, else about AG__MAP_CHUNK elements' worth, in at
   most max_tasks tasks; the tasks are then ceil(rows / that) */
static int64_t ag__rows_per_task(const ag_ctx *ctx, int64_t rows, int64_t n, int64_t max_tasks) {
    int64_t tasks = ctx->threads == 1 || n < 2 * AG__MAP_CHUNK ? 1 : (n + AG__MAP_CHUNK - 1) / AG__MAP_CHUNK;
    if (tasks > max_tasks) tasks = max_tasks;
    if (tasks > rows) tasks = rows;
    return tasks > 1 ? (rows + tasks - 1) / tasks : rows;
}
/* ag__iter_run over the indices [t per, t per + per) of the first dim: a task of an elementwise map */
typedef struct { const ag__iter *it; ag__row_fn row; const void *k; int64_t per; } ag__iter_job;
static void ag__iter_task(void *arg, int t) {
    const ag__iter_job *j = (const ag__iter_job *)arg;
    ag__iter sub = *j->it;
    int64_t r0 = (int64_t)t * j->per;
    int o;
    sub.shape[0] = sub.shape[0] - r0 < j->per ? sub.shape[0] - r0 : j->per;
    for (o = 0; o < sub.nops; o++) sub.base[o] += r0 * sub.st[o][0] * (int64_t)sub.esz[o];
    ag__iter_run(&sub, j->row, j->k);
}
/* y = row(a) or row(a, b) for inputs broadcast to y's shape: one row when every operand is dense
   (or a single element), else the N-d walk; on the pool in chunks (by y's first dim for the walk)
   when it is long and of floating point */
static void ag__map_run(ag__row_fn row, const void *k, ag_tensor *y, const ag_tensor *a, const ag_tensor *b) {
    bool dense = ag__contig(a) && (a->numel == y->numel || a->numel == 1) &&
                 (!b || (ag__contig(b) && (b->numel == y->numel || b->numel == 1)));
    if (dense) {
        ag__map_job j;
        ag__map_dense(&j, row, k, y, a, b);
        if (y->ctx->threads == 1 || y->numel < 2 * AG__MAP_CHUNK || AG__INT(y->dtype)) { row(k, y->numel, j.p, j.st); return; }
        ag__parallel(y->ctx, false, ag__map_task, &j, (int)((j.n + AG__MAP_CHUNK - 1) / AG__MAP_CHUNK));   /* long enough to share out */
    } else {
        ag__iter it;
        ag__iter_job j;
        ag__iter_init(&it, y->ndim, y->shape);
        ag__iter_add_tensor(&it, y);
        ag__iter_add_tensor(&it, a);
        if (b) ag__iter_add_tensor(&it, b);
        if (AG__INT(y->dtype) || y->ndim == 0 || (j.per = ag__rows_per_task(y->ctx, y->shape[0], y->numel, INT_MAX)) == y->shape[0])
            ag__iter_run(&it, row, k);
        else {   /* views (a permuted conv2d output, ...): y's first dim shared out, each element written once */
            j.it = &it; j.row = row; j.k = k;
            ag__parallel(y->ctx, false, ag__iter_task, &j, (int)((y->shape[0] + j.per - 1) / j.per));
        }
    }
}
/* the parameters of an elementwise kernel (the op table's unary and binary ones): a unary op's are y->fp */
static void ag__ew_kern(ag__kern *k, int op, const ag_tensor *y, bool binary) {
    k->op = op; k->a = binary ? 0 : y->fp[0]; k->b = binary ? 0 : y->fp[1]; k->isa = y->ctx->isa;
}
/* y = a op b, y of the broadcast shape and a, b of y's dtype (the kernel, also run by ag_replay) */
static void ag__binary_run(int op, ag_tensor *y, const ag_tensor *a, const ag_tensor *b) {
    ag__kern k;
    if (AG__INT(y->dtype)) { ag__int_run(op, y, a, b); return; }
    ag__ew_kern(&k, op, y, true);
    ag__map_run(AG__ROW_FOR(&k, y->dtype, ag__binary_row_f32, ag__binary_row_f64, 3, 7u, 0), &k, y, a, b);
}
static bool ag__rerun_binary(int op, ag_tensor *y) { ag__binary_run(op, y, y->in[0], y->in[1]); return true; }
/* integer arithmetic that PyTorch refuses: a zero divisor, bool subtraction */
static bool ag__int_args_ok(const char *name, int op, int dt, const ag_tensor *b) {
    if (dt == AG_BOOL && (op == AG__OP_floor_divide || op == AG__OP_remainder || op == AG__OP_fmod)) {
        ag__fail(b->ctx, "%s: not supported for bool tensors", name);
        return false;
    }
    if (op == AG__OP_floor_divide || op == AG__OP_remainder || op == AG__OP_fmod) {
        int64_t i, sh[AG_MAX_DIMS], st[AG_MAX_DIMS];
        ag_tensor tmp;
        b = ag__vmap_all(b, &tmp, sh, st);   /* every example's divisor */
        for (i = 0; i < b->numel; i++)
            if (ag__get_int(b->dtype, b->data + ag__offset(b, i) * (int64_t)ag__esize(b->dtype)) == 0) {
                ag__fail(b->ctx, "%s: integer division by zero (element %lld of the divisor)", name, (long long)i);
                return false;
            }
    }
    return true;
}
static ag_tensor *ag__binary(int op, ag_tensor *a, ag_tensor *b) {
    const char *name = ag__ops[op].name;
    int64_t shape[AG_MAX_DIMS];   /* ag__broadcast_shape sets the nd entries read */
    int nd, dt;
    ag_tensor *y;
    ag_ctx *ctx = ag__ctx2(name, a, b);
    if (!ctx) return NULL;
    if (op == AG__OP_sub && (a->dtype == AG_BOOL || b->dtype == AG_BOOL)) {   /* as PyTorch */
        ag__fail(ctx, "%s: subtraction with a bool tensor is not supported (to invert a mask use ag_logical_not)", name);
        return NULL;
    }
    dt = ag__result_dtype(a, b);
    if (AG__INT(dt) && !ag__int_op(op)) dt = AG_F32;   /* true division, atan2, ...: a float result, as PyTorch */
    a = ag_to(a, (ag_dtype)dt);
    b = ag_to(b, (ag_dtype)dt);
    if (!a || !b || !ag__broadcast_shape(name, a, b, &nd, shape) || (AG__INT(dt) && !ag__int_args_ok(name, op, dt, b))) return NULL;
    y = ag__result_raw(ctx, dt, nd, shape, 2);
    if (!y) return NULL;
    ag__binary_run(op, y, a, b);
    return ag__finish2(y, op, a, b);
}
/* One block per op: y = AG__F_<name>(T, M, u, v) (the kernel's formula, u from a and v from b),
   the public function, the backward rule. */
#define AG__F_add(T, M, u, v) ((u) + (v))
AG_API ag_tensor *ag_add(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_add, a, b); }
static int ag__bw_add(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = d y, d b = d y (summed to shape) */
    if (AG__NEED(0)) gin[0] = ag__sum_to(g, y->in[0]);
    if (AG__NEED(1)) gin[1] = ag__sum_to(g, y->in[1]);
    return 0;
}
static int ag__jvp_add(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_a + t_b */
    (void)y; (void)op; *out = ag__jvp_plus(t[0], t[1]); return 0;
}

#define AG__F_sub(T, M, u, v) ((u) - (v))
AG_API ag_tensor *ag_sub(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_sub, a, b); }
static int ag__bw_sub(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = d y, d b = -d y */
    if (AG__NEED(0)) gin[0] = ag__sum_to(g, y->in[0]);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_neg(g), y->in[1]);
    return 0;
}
static int ag__jvp_sub(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_a - t_b */
    (void)y; (void)op; *out = ag__jvp_plus(t[0], t[1] ? ag_neg(t[1]) : NULL); return 0;
}

#define AG__F_mul(T, M, u, v) ((u) * (v))
AG_API ag_tensor *ag_mul(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_mul, a, b); }
static int ag__bw_mul(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = d y * b, d b = d y * a */
    if (AG__NEED(0)) gin[0] = ag__sum_to(ag_mul(g, y->in[1]), y->in[0]);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_mul(g, y->in[0]), y->in[1]);
    return 0;
}
static int ag__jvp_mul(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_a b + a t_b */
    (void)op;
    *out = ag__jvp_plus(t[0] ? ag_mul(t[0], y->in[1]) : NULL, t[1] ? ag_mul(y->in[0], t[1]) : NULL);
    return 0;
}

#define AG__F_div(T, M, u, v) ((u) / (v))
AG_API ag_tensor *ag_div(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_div, a, b); }
static int ag__bw_div(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = d y / b, d b = -d y (a / b) / b (not a / b^2: b^2 overflows) */
    ag_tensor *a = y->in[0], *b = y->in[1];
    if (AG__NEED(0)) gin[0] = ag__sum_to(ag_div(g, b), a);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_mul(ag_neg(g), ag_div(ag_div(a, b), b)), b);
    return 0;
}
static int ag__jvp_div(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = (t_a - y t_b) / b */
    (void)op;
    *out = ag_div(t[1] ? ag__jvp_plus(t[0], ag_neg(ag_mul(y, t[1]))) : t[0], y->in[1]);
    return 0;
}
#define AG__F_maximum(T, M, u, v) (ag__isnan(u) || (u) > (v) ? (u) : (v))   /* a NaN on either side gives NaN (PyTorch) */
#define AG__F_minimum(T, M, u, v) (ag__isnan(u) || (u) < (v) ? (u) : (v))
#define AG__F_gt_mask(T, M, u, v) ((u) > (v) ? (T)1 : (T)0)
#define AG__F_eq_mask(T, M, u, v) ((u) == (v) ? (T)1 : (T)0)
AG_API ag_tensor *ag_maximum(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_maximum, a, b); }
/* start + weight (end - start), built from ops (their rules are lerp's) */
AG_API ag_tensor *ag_lerp(ag_tensor *start, ag_tensor *end, ag_tensor *weight) { ag__args(&start, &end, &weight, NULL, NULL);
    if (!start || !end || !weight) {   /* reported on a given argument's context, if any */
        ag_tensor *any = start ? start : end ? end : weight;
        if (any) ag__fail(any->ctx, "lerp: argument %d is NULL", !start ? 1 : !end ? 2 : 3);
        return NULL;
    }
    return ag_add(start, ag_mul(weight, ag_sub(end, start)));
}
AG_API ag_tensor *ag_minimum(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_minimum, a, b); }
/* how much of maximum/minimum(a, b) is a: [a wins] + [a == b] / 2 */
/* how much of maximum/minimum(a, b) goes to input i: 1 - [i loses] - [a == b] / 2, as PyTorch
   (so 1/2 each on ties, and 1 to both where a NaN makes neither lose) */
static ag_tensor *ag__extremum_share(ag_tensor *y, bool is_max, int i) {
    ag_tensor *a = y->in[0], *b = y->in[1];
    ag_tensor *loses = (is_max == (i == 0)) ? ag__binary(AG__OP_gt_mask, b, a) : ag__binary(AG__OP_gt_mask, a, b);
    return ag_add_scalar(ag_neg(ag_add(loses, ag_mul_scalar(ag__binary(AG__OP_eq_mask, a, b), 0.5))), 1.0);
}
/* maximum and minimum: d a = d y * a's share, d b = d y * b's share */
static int ag__bw_extremum(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {
    bool is_max = y->op == &ag__ops[AG__OP_maximum];
    if (AG__NEED(0)) gin[0] = ag__sum_to(ag_mul(g, ag__extremum_share(y, is_max, 0)), y->in[0]);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_mul(g, ag__extremum_share(y, is_max, 1)), y->in[1]);
    return 0;
}
static int ag__jvp_extremum(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_a w_a + t_b w_b (the shares) */
    bool is_max = op == AG__OP_maximum;
    *out = ag__jvp_plus(t[0] ? ag_mul(t[0], ag__extremum_share(y, is_max, 0)) : NULL,
                        t[1] ? ag_mul(t[1], ag__extremum_share(y, is_max, 1)) : NULL);
    return 0;
}

/* ---- elementwise, one input ---- */
/* y = op(x) with the op's parameters in y->fp (the kernel, also run by ag_replay) */
static void ag__unary_run(int op, ag_tensor *y, const ag_tensor *x) {
    ag__kern k;
    if (AG__INT(y->dtype)) { ag__int_run(op, y, x, NULL); return; }
    ag__ew_kern(&k, op, y, false);
    ag__map_run(AG__ROW_FOR(&k, x->dtype, ag__unary_row_f32, ag__unary_row_f64, 2, 3u, 0), &k, y, x, NULL);
}
static bool ag__rerun_unary(int op, ag_tensor *y) { ag__unary_run(op, y, y->in[0]); return true; }
static ag_tensor *ag__unary(int op, ag_tensor *x, double a, double b) {
    ag_tensor *y;
    if (!x) return NULL;
    if (x->dtype == AG_BOOL && (op == AG__OP_neg || op == AG__OP_abs)) {   /* as PyTorch */
        ag__fail(x->ctx, "%s: not supported for bool tensors%s", ag__ops[op].name, op == AG__OP_neg ? " (to invert a mask use ag_logical_not)" : "");
        return NULL;
    }
    if (AG__INT(x->dtype) && !ag__int_op(op)) x = ag_to(x, AG_F32);   /* exp of an integer: F32 */
    if (!x) return NULL;
    y = ag__result_raw(x->ctx, x->dtype, x->ndim, x->shape, 1);
    if (!y) return NULL;
    y->fp[0] = a; y->fp[1] = b;
    ag__unary_run(op, y, x);
    return ag__finish1(y, op, x);
}
/* One block per op: y = AG__F_<name>(T, M, v, a, b) (the kernel's formula, v = x[i], a and b the
   op's parameters, M the libm suffix), the public function, the backward rule. Their JVP rule
   is the backward rule applied to the tangent (diag). */
#define AG__X y->in[0]
/* Hot rules have a fused kernel for plain backward; with create_graph the same formula is built from ops. */
#define AG__RECORDING(y) ((y)->ctx->grad_enabled)

#define AG__F_neg(T, M, v, a, b) (-(v))
AG_API ag_tensor *ag_neg(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_neg, t, 0, 0); }
static int ag__bw_neg(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { (void)y; gin[0] = ag_neg(g); return 0; }   /* d x = -d y */

/* PyTorch's special exponents: 2 is v v, 0.5 is sqrt (NaN at -inf, not C's +inf), -0.5 is 1 / sqrt */
#define AG__F_pow(T, M, v, a, b) ((a) == 2 ? (v) * (v) : (a) == 0.5 ? AG__M(sqrt, M)(v) : (a) == -0.5 ? (T)1 / AG__M(sqrt, M)(v) : AG__M(pow, M)(v, a))
AG_API ag_tensor *ag_pow(ag_tensor *t, double e) { t = ag__arg(t); return ag__unary(AG__OP_pow, t, e, 0); }
static int ag__bw_pow(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y * p x^(p-1); p = 0: 0 (even at x = 0) */
    double p = y->fp[0];
    gin[0] = p == 0 ? ag_zeros(y->ctx, (ag_dtype)AG__X->dtype, AG__X->ndim, AG__X->shape) : ag_mul(g, ag_mul_scalar(ag_pow(AG__X, p - 1.0), p));
    return 0;
}

#define AG__F_add_scalar(T, M, v, a, b) ((v) + (a))
AG_API ag_tensor *ag_add_scalar(ag_tensor *t, double s) { t = ag__arg(t); return ag__unary(AG__OP_add_scalar, t, s, 0); }
static int ag__bw_add_scalar(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { (void)y; gin[0] = g; return 0; }   /* d x = d y */

#define AG__F_mul_scalar(T, M, v, a, b) ((v) * (a))
AG_API ag_tensor *ag_mul_scalar(ag_tensor *t, double s) { t = ag__arg(t); return ag__unary(AG__OP_mul_scalar, t, s, 0); }
static int ag__bw_mul_scalar(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul_scalar(g, y->fp[0]); return 0; }   /* d x = s d y */

/* F32: the library's own exp (>>vmath), so that every path gives the same bits; F64: libm */
#define AG__F_exp(T, M, v, a, b) AG__CAT(AG__VMF_exp_, M)(v)
#define AG__VMF_exp_f(v) ag__sf_exp_v(v)
#define AG__VMF_exp_(v) exp(v)
AG_API ag_tensor *ag_exp(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_exp, t, 0, 0); }
static int ag__bw_exp(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, y); return 0; }   /* d x = d y * y */

#define AG__F_log(T, M, v, a, b) AG__CAT(AG__VMF_log_, M)(v)
#define AG__VMF_log_f(v) ag__sf_log_v(v)
#define AG__VMF_log_(v) log(v)
AG_API ag_tensor *ag_log(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_log, t, 0, 0); }
static int ag__bw_log(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_div(g, AG__X); return 0; }   /* d x = d y / x */

#define AG__F_sqrt(T, M, v, a, b) AG__M(sqrt, M)(v)
AG_API ag_tensor *ag_sqrt(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_sqrt, t, 0, 0); }
static int ag__bw_sqrt(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_div(g, ag_mul_scalar(y, 2.0)); return 0; }   /* d x = d y / (2 y) */

#define AG__F_abs(T, M, v, a, b) AG__M(fabs, M)(v)
#define AG__F_sign(T, M, v, a, b) ((T)(((v) > 0) - ((v) < 0)))
AG_API ag_tensor *ag_sign(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_sign, t, 0, 0); }
AG_API ag_tensor *ag_abs(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_abs, t, 0, 0); }
static int ag__bw_abs(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag__unary(AG__OP_sign, AG__X, 0, 0)); return 0; }   /* d x = d y sign(x) */

#define AG__F_tanh(T, M, v, a, b) AG__CAT(AG__VMF_tanh_, M)(v)
#define AG__VMF_tanh_f(v) ag__sf_tanh_v(v)
#define AG__VMF_tanh_(v) tanh(v)
#define AG__F_tanh_grad(T, M, u, v) ((u) * ((T)1 - (v) * (v)))   /* u = d y, v = y */
AG_API ag_tensor *ag_tanh(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_tanh, t, 0, 0); }
static int ag__bw_tanh(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y (1 - y^2) */
    gin[0] = AG__RECORDING(y) ? ag_mul(g, ag_add_scalar(ag_neg(ag_mul(y, y)), 1.0)) : ag__binary(AG__OP_tanh_grad, g, y);
    return 0;
}

#define AG__F_sigmoid(T, M, v, a, b) AG__CAT(AG__VMF_sigmoid_, M)(v)
#define AG__VMF_sigmoid_f(v) ag__sf_sigmoid_v(v)
#define AG__VMF_sigmoid_(v) (1.0 / (1.0 + exp(-(v))))
#define AG__F_sigmoid_grad(T, M, u, v) ((u) * (v) * ((T)1 - (v)))   /* u = d y, v = y */
AG_API ag_tensor *ag_sigmoid(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_sigmoid, t, 0, 0); }
static int ag__bw_sigmoid(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y y (1 - y) */
    gin[0] = AG__RECORDING(y) ? ag_mul(g, ag_mul(y, ag_add_scalar(ag_neg(y), 1.0))) : ag__binary(AG__OP_sigmoid_grad, g, y);
    return 0;
}

#define AG__F_relu(T, M, v, a, b) ((v) < 0 ? (T)0 : (v))   /* NaN stays NaN; relu(-0) = -0 (PyTorch) */
#define AG__F_relu_mask(T, M, v, a, b) ((v) <= 0 ? (T)0 : (T)1)   /* 1 at NaN too, as PyTorch's threshold_backward */
#define AG__F_relu_grad(T, M, u, v) ((v) <= 0 ? (T)0 : (u))   /* u = d y, v = x */
AG_API ag_tensor *ag_relu(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_relu, t, 0, 0); }
static int ag__bw_relu(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y [x > 0] */
    gin[0] = AG__RECORDING(y) ? ag_mul(g, ag__unary(AG__OP_relu_mask, AG__X, 0, 0)) : ag__binary(AG__OP_relu_grad, g, AG__X);
    return 0;
}

#define AG__F_leaky_relu(T, M, v, a, b) ((v) > 0 ? (v) : (v) * (a))
#define AG__F_leaky_mask(T, M, v, a, b) ((v) > 0 ? (T)1 : (a))
AG_API ag_tensor *ag_leaky_relu(ag_tensor *t, double slope) { t = ag__arg(t); return ag__unary(AG__OP_leaky_relu, t, slope, 0); }
static int ag__bw_leaky_relu(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y (x > 0 ? 1 : slope) */
    gin[0] = ag_mul(g, ag__unary(AG__OP_leaky_mask, AG__X, y->fp[0], 0));
    return 0;
}

/* F32: >>vmath's (x/2 + x/2 erf(x/sqrt 2), one rounding after erf); F64: libm's erf */
#define AG__F_gelu(T, M, v, a, b) AG__CAT(AG__VMF_gelu_, M)(v)
#define AG__VMF_gelu_f(v) ag__sf_gelu_v(v)
#define AG__VMF_gelu_(v) (0.5 * (v) * (1.0 + erf((v) * 0.70710678118654752)))
AG_API ag_tensor *ag_gelu(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_gelu, t, 0, 0); }
static int ag__bw_gelu(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y (Phi(x) + x phi(x)) */
    ag_tensor *x = AG__X;
    ag_tensor *Phi = ag_mul_scalar(ag_add_scalar(ag_erf(ag_mul_scalar(x, 0.70710678118654752)), 1.0), 0.5);
    ag_tensor *phi = ag_mul_scalar(ag_exp(ag_mul_scalar(ag_mul(x, x), -0.5)), 0.39894228040143268);
    gin[0] = ag_mul(g, ag_add(Phi, ag_mul(x, phi)));
    return 0;
}

/* x/2 (1 + tanh u) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): no cancellation for x < 0 */
#define AG__F_gelu_tanh(T, M, v, a, b) AG__CAT(AG__VMF_gelu_tanh_, M)(v)
#define AG__VMF_gelu_tanh_f(v) ag__sf_gelu_tanh_v(v)
#define AG__VMF_gelu_tanh_(v) ((v) / (1.0 + exp(-1.5957691216057307 * ((v) + 0.044715 * (v) * (v) * (v)))))
AG_API ag_tensor *ag_gelu_tanh(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_gelu_tanh, t, 0, 0); }
static int ag__bw_gelu_tanh(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {
    /* u = k0 (x + k1 x^3), t = tanh u: d x = d y (0.5 (1 + t) + 0.5 x (1 - t^2) k0 (1 + 3 k1 x^2)) */
    const double k0 = 0.79788456080286536, k1 = 0.044715;
    ag_tensor *x = AG__X, *x2 = ag_mul(x, x);
    ag_tensor *t = ag_tanh(ag_mul_scalar(ag_add(x, ag_mul_scalar(ag_mul(x2, x), k1)), k0));
    ag_tensor *left = ag_mul_scalar(ag_add_scalar(t, 1.0), 0.5);
    ag_tensor *du = ag_mul_scalar(ag_add_scalar(ag_mul_scalar(x2, 3.0 * k1), 1.0), k0);
    ag_tensor *right = ag_mul(ag_mul_scalar(x, 0.5), ag_mul(ag_add_scalar(ag_neg(ag_mul(t, t)), 1.0), du));
    gin[0] = ag_mul(g, ag_add(left, right));
    return 0;
}

#define AG__F_silu(T, M, v, a, b) AG__CAT(AG__VMF_silu_, M)(v)
#define AG__VMF_silu_f(v) ag__sf_silu_v(v)
#define AG__VMF_silu_(v) ((v) / (1.0 + exp(-(v))))
AG_API ag_tensor *ag_silu(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_silu, t, 0, 0); }
static int ag__bw_silu(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* s = sigmoid x: d x = d y s (1 + x (1 - s)) */
    ag_tensor *x = AG__X, *s = ag_sigmoid(x);
    gin[0] = ag_mul(g, ag_mul(s, ag_add_scalar(ag_mul(x, ag_add_scalar(ag_neg(s), 1.0)), 1.0)));
    return 0;
}

/* F32: the library's own erf (>>vmath), the same bits on every path and platform; F64: libm */
#define AG__F_erf(T, M, v, a, b) AG__CAT(AG__VMF_erf_, M)(v)
#define AG__VMF_erf_f(v) ag__sf_erf_v(v)
#define AG__VMF_erf_(v) erf(v)
AG_API ag_tensor *ag_erf(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_erf, t, 0, 0); }
static int ag__bw_erf(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y 2/sqrt(pi) exp(-x^2) */
    ag_tensor *x = AG__X;
    gin[0] = ag_mul(g, ag_mul_scalar(ag_exp(ag_neg(ag_mul(x, x))), 1.1283791670955126));
    return 0;
}

#define AG__F_clamp(T, M, v, a, b) (((v) < (a) ? (a) : (v)) > (b) ? (b) : ((v) < (a) ? (a) : (v)))   /* min(max(x, lo), hi) */
#define AG__F_clamp_mask(T, M, v, a, b) (((v) >= (a) && (v) <= (b)) ? (T)1 : (T)0)
AG_API ag_tensor *ag_clamp(ag_tensor *t, double lo, double hi) { t = ag__arg(t);
    if (t && (ag__isnan(lo) || ag__isnan(hi))) { ag__fail(t->ctx, "clamp: the bounds must be numbers, got lo %g and hi %g", lo, hi); return NULL; }
    return ag__unary(AG__OP_clamp, t, lo, hi);
}
static int ag__bw_clamp(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y [lo <= x <= hi] */
    gin[0] = ag_mul(g, ag__unary(AG__OP_clamp_mask, AG__X, y->fp[0], y->fp[1]));
    return 0;
}

/* softplus(x) = log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as PyTorch) */
#define AG__F_softplus(T, M, v, a, b) ((v) * (a) > (b) ? (v) : AG__M(log1p, M)(AG__M(exp, M)((v) * (a))) / (a))
AG_API ag_tensor *ag_softplus(ag_tensor *t, double beta, double threshold) { t = ag__arg(t);
    if (t && (ag__isnan(beta) || beta == 0 || fabs(beta) > DBL_MAX || ag__isnan(threshold))) {
        ag__fail(t->ctx, "softplus: beta must be finite and non-zero and threshold a number, got beta %g and threshold %g", beta, threshold);
        return NULL;
    }
    return ag__unary(AG__OP_softplus, t, beta, threshold);
}
static int ag__bw_softplus(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {
    /* d x = d y sigmoid(beta x) where beta x <= threshold, d y above it:
       d y ([below] sigmoid(beta x) + 1 - [below]) (no 1 + (s - 1), which cancels for small s) */
    ag_tensor *bx = ag_mul_scalar(AG__X, y->fp[0]);
    ag_tensor *below = ag__unary(AG__OP_clamp_mask, bx, -HUGE_VAL, y->fp[1]);
    gin[0] = ag_mul(g, ag_add(ag_mul(below, ag_sigmoid(bx)), ag_add_scalar(ag_neg(below), 1.0)));
    return 0;
}

/* ---- trigonometric, hyperbolic, exponential and rounding functions (PyTorch's names and rules) ---- */
#define AG__F_sin(T, M, v, a, b) AG__M(sin, M)(v)
AG_API ag_tensor *ag_sin(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_sin, t, 0, 0); }
static int ag__bw_sin(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_cos(AG__X)); return 0; }   /* d x = d y cos x */

#define AG__F_cos(T, M, v, a, b) AG__M(cos, M)(v)
AG_API ag_tensor *ag_cos(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_cos, t, 0, 0); }
static int ag__bw_cos(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_neg(ag_sin(AG__X))); return 0; }   /* d x = -d y sin x */

#define AG__F_tan(T, M, v, a, b) AG__M(tan, M)(v)
AG_API ag_tensor *ag_tan(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_tan, t, 0, 0); }
static int ag__bw_tan(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_add_scalar(ag_mul(y, y), 1.0)); return 0; }   /* d x = d y (1 + y^2) */

#define AG__F_asin(T, M, v, a, b) AG__M(asin, M)(v)
AG_API ag_tensor *ag_asin(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_asin, t, 0, 0); }
static ag_tensor *ag__sqrt_1mx2(ag_tensor *x) { return ag_sqrt(ag_add_scalar(ag_neg(ag_mul(x, x)), 1.0)); }   /* sqrt(1 - x^2) */
static int ag__bw_asin(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_div(g, ag__sqrt_1mx2(AG__X)); return 0; }   /* d x = d y / sqrt(1 - x^2) */

#define AG__F_acos(T, M, v, a, b) AG__M(acos, M)(v)
AG_API ag_tensor *ag_acos(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_acos, t, 0, 0); }
static int ag__bw_acos(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_neg(ag_div(g, ag__sqrt_1mx2(AG__X))); return 0; }   /* d x = -d y / sqrt(1 - x^2) */

#define AG__F_atan(T, M, v, a, b) AG__M(atan, M)(v)
AG_API ag_tensor *ag_atan(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_atan, t, 0, 0); }
static int ag__bw_atan(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y / (1 + x^2) */
    gin[0] = ag_div(g, ag_add_scalar(ag_mul(AG__X, AG__X), 1.0));
    return 0;
}

#define AG__F_sinh(T, M, v, a, b) AG__M(sinh, M)(v)
AG_API ag_tensor *ag_sinh(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_sinh, t, 0, 0); }
static int ag__bw_sinh(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_cosh(AG__X)); return 0; }   /* d x = d y cosh x */

#define AG__F_cosh(T, M, v, a, b) AG__M(cosh, M)(v)
AG_API ag_tensor *ag_cosh(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_cosh, t, 0, 0); }
static int ag__bw_cosh(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_sinh(AG__X)); return 0; }   /* d x = d y sinh x */

#define AG__F_asinh(T, M, v, a, b) AG__M(asinh, M)(v)
AG_API ag_tensor *ag_asinh(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_asinh, t, 0, 0); }
static int ag__bw_asinh(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y / sqrt(x^2 + 1) */
    gin[0] = ag_div(g, ag_sqrt(ag_add_scalar(ag_mul(AG__X, AG__X), 1.0)));
    return 0;
}

#define AG__F_acosh(T, M, v, a, b) ((v) < 1 ? (T)NAN : AG__M(acosh, M)(v))   /* NaN below 1 said here: musl's acoshf (WebAssembly) gives numbers */
AG_API ag_tensor *ag_acosh(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_acosh, t, 0, 0); }
static int ag__bw_acosh(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y / sqrt(x^2 - 1) */
    gin[0] = ag_div(g, ag_sqrt(ag_add_scalar(ag_mul(AG__X, AG__X), -1.0)));
    return 0;
}

#define AG__F_atanh(T, M, v, a, b) AG__M(atanh, M)(v)
AG_API ag_tensor *ag_atanh(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_atanh, t, 0, 0); }
static int ag__bw_atanh(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y / (1 - x^2) */
    gin[0] = ag_div(g, ag_add_scalar(ag_neg(ag_mul(AG__X, AG__X)), 1.0));
    return 0;
}

#define AG__F_log2(T, M, v, a, b) AG__M(log2, M)(v)
AG_API ag_tensor *ag_log2(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_log2, t, 0, 0); }
static int ag__bw_log2(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y / (x ln 2) */
    gin[0] = ag_div(g, ag_mul_scalar(AG__X, 0.69314718055994530942));
    return 0;
}

#define AG__F_log10(T, M, v, a, b) AG__M(log10, M)(v)
AG_API ag_tensor *ag_log10(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_log10, t, 0, 0); }
static int ag__bw_log10(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y / (x ln 10) */
    gin[0] = ag_div(g, ag_mul_scalar(AG__X, 2.30258509299404568402));
    return 0;
}

#define AG__F_log1p(T, M, v, a, b) AG__M(log1p, M)(v)
AG_API ag_tensor *ag_log1p(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_log1p, t, 0, 0); }
static int ag__bw_log1p(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_div(g, ag_add_scalar(AG__X, 1.0)); return 0; }   /* d x = d y / (1 + x) */

#define AG__F_exp2(T, M, v, a, b) AG__M(exp2, M)(v)
AG_API ag_tensor *ag_exp2(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_exp2, t, 0, 0); }
static int ag__bw_exp2(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_mul_scalar(y, 0.69314718055994530942)); return 0; }   /* d x = d y y ln 2 */

#define AG__F_expm1(T, M, v, a, b) AG__M(expm1, M)(v)
AG_API ag_tensor *ag_expm1(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_expm1, t, 0, 0); }
static int ag__bw_expm1(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_add_scalar(y, 1.0)); return 0; }   /* d x = d y (y + 1) */

#define AG__F_rsqrt(T, M, v, a, b) ((T)1 / AG__M(sqrt, M)(v))
AG_API ag_tensor *ag_rsqrt(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_rsqrt, t, 0, 0); }
static int ag__bw_rsqrt(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = -d y y^3 / 2 */
    gin[0] = ag_mul(g, ag_mul_scalar(ag_mul(ag_mul(y, y), y), -0.5));
    return 0;
}

#define AG__F_reciprocal(T, M, v, a, b) ((T)1 / (v))
AG_API ag_tensor *ag_reciprocal(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_reciprocal, t, 0, 0); }
static int ag__bw_reciprocal(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_neg(ag_mul(y, y))); return 0; }   /* d x = -d y y^2 */

#define AG__F_square(T, M, v, a, b) ((v) * (v))
AG_API ag_tensor *ag_square(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_square, t, 0, 0); }
static int ag__bw_square(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_mul_scalar(AG__X, 2.0)); return 0; }   /* d x = 2 d y x */

/* piecewise constant: a gradient of zeros, as PyTorch (the result still takes part in autograd) */
static int ag__bw_zero(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = 0 */
    (void)g;
    gin[0] = ag_zeros(y->ctx, (ag_dtype)AG__X->dtype, AG__X->ndim, AG__X->shape);
    return 0;
}
#define AG__F_floor(T, M, v, a, b) AG__M(floor, M)(v)
#define AG__F_ceil(T, M, v, a, b) AG__M(ceil, M)(v)
#define AG__F_round(T, M, v, a, b) AG__M(rint, M)(v)    /* half to even, as torch.round */
#define AG__F_trunc(T, M, v, a, b) AG__M(trunc, M)(v)
AG_API ag_tensor *ag_floor(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_floor, t, 0, 0); }
AG_API ag_tensor *ag_ceil(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_ceil, t, 0, 0); }
AG_API ag_tensor *ag_round(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_round, t, 0, 0); }
AG_API ag_tensor *ag_trunc(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_trunc, t, 0, 0); }

#define AG__F_frac(T, M, v, a, b) ((v) - AG__M(trunc, M)(v))
AG_API ag_tensor *ag_frac(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_frac, t, 0, 0); }
static int ag__bw_frac(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { (void)y; gin[0] = g; return 0; }   /* d x = d y */

/* x / (1 + |x|) */
#define AG__F_softsign(T, M, v, a, b) ((v) / ((T)1 + AG__M(fabs, M)(v)))
AG_API ag_tensor *ag_softsign(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_softsign, t, 0, 0); }
static int ag__bw_softsign(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y / (1 + |x|)^2 */
    ag_tensor *d = ag_add_scalar(ag_abs(AG__X), 1.0);
    gin[0] = ag_div(g, ag_mul(d, d));
    return 0;
}

/* log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)): no overflow on either side */
#define AG__F_logsigmoid(T, M, v, a, b) (((v) < 0 ? (v) : (T)0) - AG__M(log1p, M)(AG__M(exp, M)(-AG__M(fabs, M)(v))))
AG_API ag_tensor *ag_logsigmoid(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_logsigmoid, t, 0, 0); }
static int ag__bw_logsigmoid(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag_mul(g, ag_sigmoid(ag_neg(AG__X))); return 0; }   /* d x = d y sigmoid(-x) */

/* ---- activations (torch.nn.functional's, with its gradients at the kinks) ---- */
#define AG__F_between(T, M, v, a, b) ((v) > (a) && (v) < (b) ? (T)1 : (T)0)   /* the open interval's mask */

/* elu: x > 0 ? x : alpha (exp(x) - 1), times scale (b = 1; selu's constants otherwise) */
#define AG__F_elu(T, M, v, a, b) ((b) * ((v) > 0 ? (v) : (a) * AG__M(expm1, M)(v)))
#define AG__F_selu(T, M, v, a, b) AG__F_elu(T, M, v, a, b)
AG_API ag_tensor *ag_elu(ag_tensor *t, double alpha) { t = ag__arg(t); return ag__unary(AG__OP_elu, t, alpha, 1.0); }
AG_API ag_tensor *ag_selu(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_selu, t, 1.6732632423543772848, 1.0507009873554804934); }
static int ag__bw_elu(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {
    /* d x = d y scale ([x > 0] + [x <= 0] alpha exp(min(x, 0))) (the min keeps exp finite where it is not used) */
    ag_tensor *x = AG__X, *pos = ag__unary(AG__OP_relu_mask, x, 0, 0);
    ag_tensor *neg = ag_mul(ag_add_scalar(ag_neg(pos), 1.0), ag_mul_scalar(ag_exp(ag_clamp(x, -HUGE_VAL, 0.0)), y->fp[0]));
    gin[0] = ag_mul(g, ag_mul_scalar(ag_add(pos, neg), y->fp[1]));
    return 0;
}

/* celu: x > 0 ? x : alpha (exp(x / alpha) - 1) */
#define AG__F_celu(T, M, v, a, b) ((v) > 0 ? (v) : (a) * AG__M(expm1, M)((v) / (a)))
AG_API ag_tensor *ag_celu(ag_tensor *t, double alpha) { t = ag__arg(t);
    if (t && (alpha == 0 || ag__isnan(alpha))) { ag__fail(t->ctx, "celu: alpha must be a non-zero number, got %g", alpha); return NULL; }
    return ag__unary(AG__OP_celu, t, alpha, 0);
}
static int ag__bw_celu(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y ([x > 0] + [x <= 0] exp(min(x, 0) / alpha)) */
    ag_tensor *x = AG__X, *pos = ag__unary(AG__OP_relu_mask, x, 0, 0);
    ag_tensor *neg = ag_mul(ag_add_scalar(ag_neg(pos), 1.0), ag_exp(ag_mul_scalar(ag_clamp(x, -HUGE_VAL, 0.0), 1.0 / y->fp[0])));
    gin[0] = ag_mul(g, ag_add(pos, neg));
    return 0;
}

/* hardtanh: clamp(x, lo, hi) with gradient 0 at the bounds too (PyTorch); relu6 = hardtanh(x, 0, 6) */
#define AG__F_hardtanh(T, M, v, a, b) AG__F_clamp(T, M, v, a, b)
AG_API ag_tensor *ag_hardtanh(ag_tensor *t, double lo, double hi) { t = ag__arg(t);
    if (t && (ag__isnan(lo) || ag__isnan(hi) || lo > hi)) { ag__fail(t->ctx, "hardtanh: need numbers min <= max, got %g and %g", lo, hi); return NULL; }
    return ag__unary(AG__OP_hardtanh, t, lo, hi);
}
AG_API ag_tensor *ag_relu6(ag_tensor *t) { return ag_hardtanh(t, 0.0, 6.0); }
static int ag__bw_hardtanh(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y [lo < x < hi] */
    gin[0] = ag_mul(g, ag__unary(AG__OP_between, AG__X, y->fp[0], y->fp[1]));
    return 0;
}

/* hardsigmoid: relu6(x + 3) / 6 */
#define AG__F_hardsigmoid(T, M, v, a, b) ((v) <= -3 ? (T)0 : (v) >= 3 ? (T)1 : (v) / 6 + (T)0.5)
AG_API ag_tensor *ag_hardsigmoid(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_hardsigmoid, t, 0, 0); }
static int ag__bw_hardsigmoid(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y [-3 < x < 3] / 6 */
    gin[0] = ag_mul(g, ag_mul_scalar(ag__unary(AG__OP_between, AG__X, -3.0, 3.0), 1.0 / 6.0));
    return 0;
}

/* hardswish: x relu6(x + 3) / 6 */
#define AG__F_hardswish(T, M, v, a, b) ((v) <= -3 ? (T)0 : (v) >= 3 ? (v) : (v) * ((v) + 3) / 6)
AG_API ag_tensor *ag_hardswish(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_hardswish, t, 0, 0); }
static int ag__bw_hardswish(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {
    /* d x = d y ([-3 <= x <= 3] (x / 3 + 1/2) + [x > 3]), PyTorch's values at -3 and 3 included */
    ag_tensor *x = AG__X, *mid = ag__unary(AG__OP_clamp_mask, x, -3.0, 3.0);
    ag_tensor *hi = ag_add_scalar(ag_neg(ag__unary(AG__OP_clamp_mask, x, -HUGE_VAL, 3.0)), 1.0);   /* [x > 3], +inf and NaN too */
    ag_tensor *slope = ag_add_scalar(ag_mul_scalar(ag_clamp(x, -3.0, 3.0), 1.0 / 3.0), 0.5);   /* clamped: 0 x inf is not 0 */
    gin[0] = ag_mul(g, ag_add(ag_mul(mid, slope), hi));
    return 0;
}

/* mish: x tanh(softplus(x)) (softplus with PyTorch's threshold 20) */
#define AG__F_mish(T, M, v, a, b) ((v) * AG__M(tanh, M)((v) > 20 ? (v) : AG__M(log1p, M)(AG__M(exp, M)(v))))
AG_API ag_tensor *ag_mish(ag_tensor *t) { t = ag__arg(t); return ag__unary(AG__OP_mish, t, 0, 0); }
static int ag__bw_mish(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* t = tanh(softplus x): d x = d y (t + x sigmoid(x) (1 - t^2)) */
    ag_tensor *x = AG__X, *t = ag_tanh(ag_softplus(x, 1.0, 20.0));
    gin[0] = ag_mul(g, ag_add(t, ag_mul(ag_mul(x, ag_sigmoid(x)), ag_add_scalar(ag_neg(ag_mul(t, t)), 1.0))));
    return 0;
}

/* ---- more elementwise ops of two tensors (broadcasting), and of a scalar on the left ---- */
/* atan2(a, b): the angle of (b, a) */
#define AG__F_atan2(T, M, u, v) AG__M(atan2, M)(u, v)
AG_API ag_tensor *ag_atan2(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_atan2, a, b); }
static int ag__bw_atan2(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = d y b / (a^2 + b^2), d b = -d y a / (a^2 + b^2) */
    ag_tensor *a = y->in[0], *b = y->in[1], *r2 = ag_add(ag_mul(a, a), ag_mul(b, b));
    if (AG__NEED(0)) gin[0] = ag__sum_to(ag_div(ag_mul(g, b), r2), a);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_neg(ag_div(ag_mul(g, a), r2)), b);
    return 0;
}
static int ag__jvp_atan2(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = (b t_a - a t_b) / (a^2 + b^2) */
    ag_tensor *a = y->in[0], *b = y->in[1], *r2 = ag_add(ag_mul(a, a), ag_mul(b, b));
    (void)op;
    *out = ag_div(ag__jvp_plus(t[0] ? ag_mul(b, t[0]) : NULL, t[1] ? ag_neg(ag_mul(a, t[1])) : NULL), r2);
    return 0;
}

/* hypot(a, b) = sqrt(a^2 + b^2) without overflow */
#define AG__F_hypot(T, M, u, v) AG__M(hypot, M)(u, v)
AG_API ag_tensor *ag_hypot(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_hypot, a, b); }
static int ag__bw_hypot(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = d y a / y, d b = d y b / y */
    ag_tensor *a = y->in[0], *b = y->in[1], *h = ag_hypot(a, b);
    if (AG__NEED(0)) gin[0] = ag__sum_to(ag_mul(g, ag_div(a, h)), a);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_mul(g, ag_div(b, h)), b);
    return 0;
}
static int ag__jvp_hypot(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = (a t_a + b t_b) / y */
    ag_tensor *a = y->in[0], *b = y->in[1];
    (void)op;
    *out = ag_div(ag__jvp_plus(t[0] ? ag_mul(a, t[0]) : NULL, t[1] ? ag_mul(b, t[1]) : NULL), ag_hypot(a, b));
    return 0;
}

/* logaddexp(a, b) = log(exp(a) + exp(b)) = max + log1p(exp(-|a - b|)); equal infinities give themselves */
#define AG__F_logaddexp(T, M, u, v) (ag__isnan(u) || ag__isnan(v) ? (u) + (v) : (u) == (v) ? (u) + (T)0.69314718055994530942 : \
    ((u) > (v) ? (u) : (v)) + AG__M(log1p, M)(AG__M(exp, M)(-AG__M(fabs, M)((u) - (v)))))   /* NaN tested by bits: under any flags */
AG_API ag_tensor *ag_logaddexp(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_logaddexp, a, b); }
static int ag__bw_logaddexp(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = d y sigmoid(a - b), d b = d y sigmoid(b - a) */
    ag_tensor *a = y->in[0], *b = y->in[1];
    if (AG__NEED(0)) gin[0] = ag__sum_to(ag_mul(g, ag_sigmoid(ag_sub(a, b))), a);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_mul(g, ag_sigmoid(ag_sub(b, a))), b);
    return 0;
}
static int ag__jvp_logaddexp(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_a sigmoid(a - b) + t_b sigmoid(b - a) */
    ag_tensor *a = y->in[0], *b = y->in[1];
    (void)op;
    *out = ag__jvp_plus(t[0] ? ag_mul(t[0], ag_sigmoid(ag_sub(a, b))) : NULL, t[1] ? ag_mul(t[1], ag_sigmoid(ag_sub(b, a))) : NULL);
    return 0;
}

/* fmod: the remainder with the dividend's sign (C's fmod); remainder: with the divisor's (Python's %) */
#define AG__F_fmod(T, M, u, v) AG__M(fmod, M)(u, v)
#define AG__F_remainder(T, M, u, v) ag__remainder_##M(u, v)
static float ag__remainder_f(float a, float b) { float r = fmodf(a, b); return r != 0 && ((r < 0) != (b < 0)) ? r + b : r; }
AG__F64(static double ag__remainder_(double a, double b) { double r = fmod(a, b); return r != 0 && ((r < 0) != (b < 0)) ? r + b : r; })
AG_API ag_tensor *ag_fmod(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_fmod, a, b); }
AG_API ag_tensor *ag_remainder(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_remainder, a, b); }
/* both are a - q b with q = trunc(a / b) (fmod) or floor(a / b) (remainder): d a = d y, d b = -d y q */
static int ag__bw_fmod(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *a = y->in[0], *b = y->in[1];
    if (AG__NEED(0)) gin[0] = ag__sum_to(g, a);
    if (AG__NEED(1)) {
        ag_tensor *q = ag_div(a, b);
        q = y->op == &ag__ops[AG__OP_fmod] ? ag_trunc(q) : ag_floor(q);
        gin[1] = ag__sum_to(ag_neg(ag_mul(g, ag_detach(q))), b);
    }
    return 0;
}
static int ag__jvp_fmod(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_a - q t_b */
    ag_tensor *q = ag_div(y->in[0], y->in[1]);
    q = op == AG__OP_fmod ? ag_trunc(q) : ag_floor(q);
    *out = ag__jvp_plus(t[0], t[1] ? ag_neg(ag_mul(q, t[1])) : NULL);
    return 0;
}

/* a ** b for a tensor exponent (c ** x: ag_pow_tensor(ag_scalar(ctx, c), x)) */
#define AG__F_pow_tensor(T, M, u, v) AG__M(pow, M)(u, v)
AG_API ag_tensor *ag_pow_tensor(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__binary(AG__OP_pow_tensor, a, b); }
/* d a = d y b a^(b - 1) (0 where b = 0, as PyTorch), d b = d y a^b log a (0 where a = 0 and b >= 0) */
static ag_tensor *ag__pow_dbase(ag_tensor *a, ag_tensor *b) {   /* b a^(b - [b != 0]): where b = 0, 0 x a^0 = 0 exactly, NaN a too */
    ag_tensor *nz = ag_add_scalar(ag_neg(ag__binary(AG__OP_eq_mask, b, ag_zeros(b->ctx, (ag_dtype)b->dtype, 0, NULL))), 1.0);
    return ag_mul(b, ag_pow_tensor(a, ag_sub(b, nz)));
}
static ag_tensor *ag__pow_dexp(ag_tensor *y, ag_tensor *a, ag_tensor *b) {
    ag_tensor *zero = ag_zeros(a->ctx, (ag_dtype)a->dtype, 0, NULL);
    ag_tensor *keep = ag_add_scalar(ag_neg(ag_mul(ag__binary(AG__OP_eq_mask, a, zero), ag__unary(AG__OP_clamp_mask, b, 0.0, HUGE_VAL))), 1.0);
    ag_tensor *loga = ag_log(ag_add(a, ag_mul(ag_add_scalar(ag_neg(keep), 1.0), ag_ones(a->ctx, (ag_dtype)a->dtype, 0, NULL))));
    return ag_mul(keep, ag_mul(y, loga));   /* log(1) = 0 where masked: no 0 * -inf */
}
static int ag__bw_pow_tensor(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {
    ag_tensor *a = y->in[0], *b = y->in[1];
    if (AG__NEED(0)) gin[0] = ag__sum_to(ag_mul(g, ag__pow_dbase(a, b)), a);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_mul(g, ag__pow_dexp(ag_pow_tensor(a, b), a, b)), b);
    return 0;
}
static int ag__jvp_pow_tensor(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_a d_a + t_b d_b */
    ag_tensor *a = y->in[0], *b = y->in[1];
    (void)op;
    *out = ag__jvp_plus(t[0] ? ag_mul(t[0], ag__pow_dbase(a, b)) : NULL, t[1] ? ag_mul(t[1], ag__pow_dexp(ag_pow_tensor(a, b), a, b)) : NULL);
    return 0;
}

/* s - x, s / x and s ** x: a scalar on the left (3 - x, 1 / x, 2 ** x) in one call */
#define AG__F_rsub_scalar(T, M, v, a, b) ((a) - (v))
#define AG__F_rdiv_scalar(T, M, v, a, b) ((a) / (v))
#define AG__F_rpow_scalar(T, M, v, a, b) AG__M(pow, M)(a, v)
AG_API ag_tensor *ag_rpow_scalar(ag_tensor *t, double s) { t = ag__arg(t); return ag__unary(AG__OP_rpow_scalar, t, s, 0); }
static int ag__bw_rpow_scalar(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y y log s (0 at s = 0, like PyTorch for x >= 0) */
    gin[0] = y->fp[0] == 0 ? ag_mul_scalar(g, 0.0) : ag_mul(g, ag_mul_scalar(y, log(y->fp[0])));
    return 0;
}
AG_API ag_tensor *ag_rsub_scalar(ag_tensor *t, double s) { t = ag__arg(t); return ag__unary(AG__OP_rsub_scalar, t, s, 0); }
AG_API ag_tensor *ag_rdiv_scalar(ag_tensor *t, double s) { t = ag__arg(t); return ag__unary(AG__OP_rdiv_scalar, t, s, 0); }
static int ag__bw_rsub_scalar(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { (void)y; gin[0] = ag_neg(g); return 0; }   /* d x = -d y */
static int ag__bw_rdiv_scalar(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = -d y (s / x) / x */
    gin[0] = ag_neg(ag_div(ag_mul(g, y), AG__X));
    return 0;
}

/* ---- >>elementwise: the row kernels of every elementwise op, now that their formulas are defined ---- */
AG__DEF_UNARY(float, f32, AG__UNARY_CASE_F32)
AG__F64(AG__DEF_UNARY(double, f64, AG__UNARY_CASE_F64))
AG__DEF_BINARY(float, f32, AG__BINARY_CASE_F32)
AG__F64(AG__DEF_BINARY(double, f64, AG__BINARY_CASE_F64))

/* ---- comparisons, logic, where, masked_fill, one_hot (>>int) ----
   Comparisons and logic give BOOL and have no gradient; the inputs promote as for add. where
   and masked_fill pass the gradient to the values they pick. */
static ag_tensor *ag__compare(int op, ag_tensor *a, ag_tensor *b) {
    const char *name = ag__ops[op].name;
    int64_t shape[AG_MAX_DIMS];   /* ag__broadcast_shape sets the nd entries read */
    int nd = 0, dt, i;
    ag_tensor *y;
    bool binary = b != NULL;
    ag_ctx *ctx = binary ? ag__ctx2(name, a, b) : a ? a->ctx : NULL;
    if (!ctx) return NULL;
    dt = binary ? ag__result_dtype(a, b) : a->dtype;
    a = ag_to(a, (ag_dtype)dt);
    if (binary) b = ag_to(b, (ag_dtype)dt);
    if (!a || (binary && !b)) return NULL;   /* a failed conversion must not turn it into a one-input op */
    if (b) { if (!ag__broadcast_shape(name, a, b, &nd, shape)) return NULL; }
    else for (nd = a->ndim, i = 0; i < nd; i++) shape[i] = a->shape[i];
    if (op == AG__OP_floor_divide && AG__INT(dt) && !ag__int_args_ok(name, op, dt, b)) return NULL;
    y = ag__result_raw(ctx, op == AG__OP_floor_divide ? dt : AG_BOOL, nd, shape, b ? 2 : 1);
    if (!y) return NULL;
    ag__int_run(op, y, a, b);
    return b ? ag__finish2(y, op, a, b) : ag__finish1(y, op, a);
}
AG_API ag_tensor *ag_eq(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_eq, a, b); }
AG_API ag_tensor *ag_ne(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_ne, a, b); }
AG_API ag_tensor *ag_lt(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_lt, a, b); }
AG_API ag_tensor *ag_le(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_le, a, b); }
AG_API ag_tensor *ag_gt(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_gt, a, b); }
AG_API ag_tensor *ag_ge(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_ge, a, b); }
AG_API ag_tensor *ag_logical_and(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_logical_and, a, b); }
AG_API ag_tensor *ag_logical_or(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_logical_or, a, b); }
AG_API ag_tensor *ag_logical_xor(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_logical_xor, a, b); }
AG_API ag_tensor *ag_logical_not(ag_tensor *t) { t = ag__arg(t); return ag__compare(AG__OP_logical_not, t, NULL); }
AG_API ag_tensor *ag_isnan(ag_tensor *t) { t = ag__arg(t); return ag__compare(AG__OP_isnan, t, NULL); }
AG_API ag_tensor *ag_isinf(ag_tensor *t) { t = ag__arg(t); return ag__compare(AG__OP_isinf, t, NULL); }
AG_API ag_tensor *ag_isfinite(ag_tensor *t) { t = ag__arg(t); return ag__compare(AG__OP_isfinite, t, NULL); }
/* floor(a / b): integers as Python's //, floats as PyTorch's floor_divide; no gradient */
AG_API ag_tensor *ag_floor_divide(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL); return ag__compare(AG__OP_floor_divide, a, b); }

/* the entries of a (element size *k) where the BOOL cond holds, into y */
static void ag__where_row(const void *kp, int64_t n, char **p, const int64_t *s) {
    size_t es = *(const size_t *)kp;
    int64_t i;
    for (i = 0; i < n; i++) if (p[1][i * s[1]]) memcpy(p[0] + i * s[0] * (int64_t)es, p[2] + i * s[2] * (int64_t)es, es);
}
/* y = cond ? a : b, broadcast (the kernel, also run by ag_replay): b, then a where cond holds */
static void ag__where_run(ag_tensor *y, const ag_tensor *cond, const ag_tensor *a, const ag_tensor *b) {
    ag__iter it;
    size_t es = ag__esize(y->dtype);
    ag__iter_init(&it, y->ndim, y->shape);
    ag__iter_add_tensor(&it, y);
    ag__iter_add_tensor(&it, b);
    ag__copy_run(&it, y->dtype, b->dtype, y->ctx->isa);
    ag__iter_init(&it, y->ndim, y->shape);
    ag__iter_add_tensor(&it, y);
    ag__iter_add_tensor(&it, cond);
    ag__iter_add_tensor(&it, a);
    ag__iter_run(&it, ag__where_row, &es);
}
static bool ag__rerun_where(int op, ag_tensor *y) { (void)op; ag__where_run(y, y->in[0], y->in[1], y->in[2]); return true; }
AG_API ag_tensor *ag_where(ag_tensor *cond, ag_tensor *a, ag_tensor *b) { ag__args(&cond, &a, &b, NULL, NULL);
    int64_t sh1[AG_MAX_DIMS], sh[AG_MAX_DIMS];   /* set by ag__broadcast_shape */
    int nd1, nd, dt;
    ag_tensor *y, *in3[3], ab;
    ag_ctx *ctx = ag__ctx2("where", a, b);
    char s1[200];
    if (!ctx) return NULL;
    if (!cond) { ag__fail(ctx, "where: the condition is NULL"); return NULL; }
    if (cond->ctx != ctx) { ag__fail(ctx, "where: tensors belong to different contexts"); return NULL; }
    if (cond->dtype != AG_BOOL) {
        ag__fail(ctx, "where: the condition %s is %s, not bool (compare, e.g. ag_gt(x, zero), or convert with ag_to(c, AG_BOOL))",
                 AG__SHAPE(s1, cond), ag_dtype_name((ag_dtype)cond->dtype));
        return NULL;
    }
    dt = ag__result_dtype(a, b);
    a = ag_to(a, (ag_dtype)dt);
    b = ag_to(b, (ag_dtype)dt);
    if (!a || !b || !ag__broadcast_shape("where", a, b, &nd1, sh1)) return NULL;
    ab = *a; ab.ndim = (uint8_t)nd1; ab.shape = sh1; ab.name = NULL;   /* a's header with a and b's broadcast shape, for the check */
    if (!ag__broadcast_shape("where", cond, &ab, &nd, sh)) return NULL;
    y = ag__result_raw(ctx, dt, nd, sh, 3);
    if (!y) return NULL;
    ag__where_run(y, cond, a, b);
    in3[0] = cond; in3[1] = a; in3[2] = b;
    return ag__finish(y, AG__OP_where, 3, in3);
}
static int ag__bw_where(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = where(c, d y, 0), d b = where(c, 0, d y), summed to shape */
    ag_tensor *z = ag_zeros(y->ctx, (ag_dtype)g->dtype, 0, NULL);
    if (AG__NEED(1)) gin[1] = ag__sum_to(ag_where(y->in[0], g, z), y->in[1]);
    if (AG__NEED(2)) gin[2] = ag__sum_to(ag_where(y->in[0], z, g), y->in[2]);
    return 0;
}
static int ag__jvp_where(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = where(c, t_a, t_b) */
    ag_tensor *z;
    (void)op;
    *out = NULL;
    if (!t[1] && !t[2]) return 0;
    z = ag_zeros(y->ctx, (ag_dtype)y->dtype, 0, NULL);
    *out = ag_expand(ag_where(y->in[0], t[1] ? t[1] : z, t[2] ? t[2] : z), y->ndim, y->shape);
    return *out ? 0 : -1;
}
/* whether dtype holds v without overflow (PyTorch's check of a fill value): NaN and inf fit
   every float dtype, a finite value that rounds to inf does not; integers take values in range */
static bool ag__fits(int dtype, double v) {
    char buf[8];
    if (dtype == AG_BOOL || dtype == AG_F64) return true;
    if (dtype == AG_I32) return !ag__isnan(v) && v > -2147483649.0 && v < 2147483648.0;
    if (dtype == AG_I64) return !ag__isnan(v) && v >= -9223372036854775808.0 && v < 9223372036854775808.0;
    if (ag__isnan(v) || fabs(v) > DBL_MAX) return true;
    ag__set_as(dtype, buf, v);
    return fabs(ag__get_as(dtype, buf)) <= DBL_MAX;
}
/* t with value where mask holds (mask BOOL; the result has their broadcast shape, as PyTorch's) */
AG_API ag_tensor *ag_masked_fill(ag_tensor *t, ag_tensor *mask, double value) { ag__args(&t, &mask, NULL, NULL, NULL);
    char s1[200];
    ag_ctx *ctx = ag__ctx2("masked_fill", t, mask);
    if (!ctx) return NULL;
    if (!ag__fits(t->dtype, value)) {
        ag__fail(ctx, "masked_fill: the value %g cannot be converted to %s without overflow", value, ag_dtype_name((ag_dtype)t->dtype));
        return NULL;
    }
    if (mask->dtype != AG_BOOL) {
        ag__fail(ctx, "masked_fill: the mask %s is %s, not bool (compare first, or convert with ag_to(mask, AG_BOOL))", AG__SHAPE(s1, mask),
                 ag_dtype_name((ag_dtype)mask->dtype));
        return NULL;
    }
    return ag_where(mask, ag_full(ctx, (ag_dtype)t->dtype, 0, NULL, value), t);
}
/* [..., num_classes] I64: 1 at each entry's class (num_classes -1: the largest class + 1) */
AG_API ag_tensor *ag_one_hot(ag_tensor *index, int64_t num_classes) { index = ag__arg(index);
    int64_t i, hi = -1, sh[AG_MAX_DIMS], st[AG_MAX_DIMS];
    char s1[200];
    ag_tensor tmp;
    const ag_tensor *all;
    if (!index) return NULL;
    if (index->dtype != AG_I32 && index->dtype != AG_I64) {
        ag__fail(index->ctx, "one_hot: the classes %s are %s, not int32 or int64", AG__SHAPE(s1, index), ag_dtype_name((ag_dtype)index->dtype));
        return NULL;
    }
    all = ag__vmap_all(index, &tmp, sh, st);   /* inside ag_vmap: every example's classes */
    for (i = 0; i < all->numel; i++) {
        int64_t v = ag__get_int(all->dtype, all->data + ag__offset(all, i) * (int64_t)ag__esize(all->dtype));
        if (v < 0 || (num_classes >= 0 && v >= num_classes)) {
            ag__fail(index->ctx, "one_hot: class %lld at element %lld is out of range for %lld classes", (long long)v, (long long)i,
                     (long long)(num_classes >= 0 ? num_classes : hi + 1));
            return NULL;
        }
        if (v > hi) hi = v;
    }
    if (num_classes < -1) { ag__fail(index->ctx, "one_hot: num_classes is %lld (expected -1 or more)", (long long)num_classes); return NULL; }
    if (num_classes == -1 && index->numel == 0) { ag__fail(index->ctx, "one_hot: cannot infer the number of classes of an empty tensor"); return NULL; }
    if (num_classes == -1) num_classes = hi + 1;
    return ag_to(ag_eq(ag_unsqueeze(index, -1), ag_arange(index->ctx, AG_I64, 0, (double)num_classes, 1)), AG_I64);
}

/* ---- reductions ---- */
/* y = x reduced over the dims in y->ip[0], times y->fp[0] (the kernel, also run by ag_replay); false if out of memory */
/* an integer sum: y (I64, zeroed here) += x over the dims in mask, wrapping in 64 bits */
static void ag__sum_int_row(const void *kp, int64_t n, char **p, const int64_t *s) {
    int dt = *(const int *)kp;
    int64_t i, es = (int64_t)ag__esize(dt);
    for (i = 0; i < n; i++) {
        int64_t *acc = (int64_t *)(void *)p[0] + i * s[0];
        *acc = (int64_t)((uint64_t)*acc + (uint64_t)ag__get_int(dt, p[1] + i * s[1] * es));
    }
}
static bool ag__reduce_run(int op, ag_tensor *y, const ag_tensor *x) {
    int64_t kshape[AG_MAX_DIMS], ast[AG_MAX_DIMS], j;   /* the x->ndim entries read are set below */
    unsigned mask = (unsigned)y->ip[0];
    int i, kop = op == AG__OP_mean ? AG__OP_sum : op;
    ag__acc *acc;
    double init, scale = y->fp[0];
    ag__mark m = ag__arena_mark(x->ctx);
    ag__iter it;
    ag__kern k;
    for (i = 0; i < x->ndim; i++) kshape[i] = (mask >> i) & 1 ? 1 : x->shape[i];
    if (AG__INT(x->dtype)) {   /* into y itself, contiguous I64 */
        int dt = x->dtype;
        memset(y->data, 0, (size_t)y->numel * 8);
        ag__contig_strides(x->ndim, kshape, ast);
        for (i = 0; i < x->ndim; i++) if ((mask >> i) & 1) ast[i] = 0;
        ag__iter_init(&it, x->ndim, x->shape);
        ag__iter_add(&it, y->data, 8, ast);
        ag__iter_add_tensor(&it, x);
        ag__iter_run(&it, ag__sum_int_row, &dt);
        ag__arena_release(x->ctx, m);
        return true;
    }
    acc = (ag__acc *)ag__arena_alloc(x->ctx, sizeof(ag__acc) * (size_t)(y->numel ? y->numel : 1), 16);
    if (!acc) return false;
    init = kop == AG__OP_sum ? 0.0 : kop == AG__OP_max ? -HUGE_VAL : HUGE_VAL;
    for (j = 0; j < y->numel; j++) ag__acc_init(&acc[j], (ag__accv)init);
    ag__contig_strides(x->ndim, kshape, ast);
    for (i = 0; i < x->ndim; i++) if ((mask >> i) & 1) ast[i] = 0;
    ag__iter_init(&it, x->ndim, x->shape);
    ag__iter_add(&it, acc, (int)sizeof(ag__acc), ast);
    ag__iter_add_tensor(&it, x);
    k.op = kop; k.a = k.b = 0; k.isa = x->ctx->isa;
    ag__iter_run(&it, AG__ROW_FOR(&k, x->dtype, ag__reduce_row_f32, ag__reduce_row_f64, 2, 2u, sizeof(ag__acc)), &k);
    for (j = 0; j < y->numel; j++) {
        if (y->dtype == AG_F64) ((double *)y->data)[j] = acc[j].s * scale;
        else if (y->dtype == AG_F32) ((float *)y->data)[j] = (float)(acc[j].s * (ag__accv)scale);
        else ag__store(y, j, (float)(acc[j].s * (ag__accv)scale));   /* F32 rounded to 16 bits */
    }
    ag__arena_release(x->ctx, m);
    return true;
}
static bool ag__rerun_reduce(int op, ag_tensor *y) { return ag__reduce_run(op, y, y->in[0]); }
/* reduces x over the dims in mask (sum, max or min; scale multiplies the result); op is what is recorded */
static ag_tensor *ag__reduce(const char *name, ag_tensor *x, int op, unsigned mask, bool keepdim, double scale) {
    int64_t fshape[AG_MAX_DIMS];   /* the fnd entries read are set below */
    int i, fnd = 0;
    ag_tensor *y;
    if (!x) return NULL;
    bool empty = false;   /* a maximum or minimum over nothing (an empty dim reduced) has no value */
    if (AG__INT(x->dtype) && op != AG__OP_sum && !(x = ag_to(x, AG_F32))) return NULL;   /* integer sums are I64; the rest F32 */
    for (i = 0; i < x->ndim; i++) {
        if (!((mask >> i) & 1) || keepdim) fshape[fnd++] = (mask >> i) & 1 ? 1 : x->shape[i];
        if (((mask >> i) & 1) && x->shape[i] == 0) empty = true;
    }
    if (op != AG__OP_sum && op != AG__OP_mean && empty) {
        char s[200];
        ag__fail(x->ctx, "%s: cannot reduce an empty tensor of shape %s", name, AG__SHAPE(s, x));
        return NULL;
    }
    y = ag__result_raw(x->ctx, AG__INT(x->dtype) ? (int)AG_I64 : (int)x->dtype, fnd, fshape, 1);   /* ag__reduce_run writes every element */
    if (!y) return NULL;
    y->ip[0] = (int64_t)mask; y->ip[1] = keepdim; y->fp[0] = scale;
    if (!ag__reduce_run(op, y, x)) return NULL;
    return ag__finish1(y, op, x);
}
/* g reshaped to the keepdim shape of a reduction of x */
static ag_tensor *ag__keepdim(ag_tensor *g, const ag_tensor *x, unsigned mask) {
    int64_t sh[AG_MAX_DIMS] = {0};   /* x->ndim entries set below (zero-filled: gcc -Ofast cannot tell) */
    int i;
    for (i = 0; i < x->ndim; i++) sh[i] = (mask >> i) & 1 ? 1 : x->shape[i];
    return ag_reshape(g, x->ndim, sh);
}
static int ag__bw_sum(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = expand(d y) * scale */
    ag_tensor *x = AG__X, *gk = ag__keepdim(g, x, (unsigned)y->ip[0]);
    if (y->fp[0] != 1.0) gk = ag_mul_scalar(gk, y->fp[0]);
    gin[0] = ag_expand(gk, x->ndim, x->shape);
    return 0;
}
static int ag__jvp_sum(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = the same reduction of t_x */
    *out = ag__reduce(ag__ops[op].name, t[0], op, (unsigned)y->ip[0], y->ip[1] != 0, y->fp[0]);
    return 0;
}
/* the share of each element of x in max/min y: [x == y] / (number of such x) */
static ag_tensor *ag__extreme_share(ag_tensor *y) {
    ag_tensor *x = AG__X;
    unsigned mask = (unsigned)y->ip[0];
    ag_tensor *hit = ag__binary(AG__OP_eq_mask, x, ag__keepdim(y, x, mask));
    return ag_div(hit, ag__reduce("sum", hit, AG__OP_sum, mask, true, 1.0));
}
static int ag__bw_max(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y [x == max] / (number of maxima) */
    gin[0] = ag_mul(ag__keepdim(g, AG__X, (unsigned)y->ip[0]), ag__extreme_share(y));
    return 0;
}
static int ag__jvp_max(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = sum(t_x [x == y]) / (number of extremes) */
    (void)op;
    *out = ag__reduce("sum", ag_mul(t[0], ag__extreme_share(y)), AG__OP_sum, (unsigned)y->ip[0], y->ip[1] != 0, 1.0);
    return 0;
}

static unsigned ag__all_dims(const ag_tensor *t) { return t ? (1u << t->ndim) - 1u : 0; }
static ag_tensor *ag__reduce_dim(const char *name, int op, ag_tensor *t, int dim, bool keepdim, bool mean) {
    if (!t || !ag__dim_s(t->ctx, name, t->ndim, dim, &dim)) return NULL;
    if (dim < 0) return ag__reduce(name, t, op, 0u, keepdim, 1.0);   /* a 0-d tensor: over its one element */
    return ag__reduce(name, t, op, 1u << dim, keepdim, mean ? 1.0 / (double)t->shape[dim] : 1.0);
}
AG_API ag_tensor *ag_sum(ag_tensor *t) { t = ag__arg(t); return ag__reduce("sum", t, AG__OP_sum, ag__all_dims(t), false, 1.0); }
AG_API ag_tensor *ag_mean(ag_tensor *t) { t = ag__arg(t); return t ? ag__reduce("mean", t, AG__OP_mean, ag__all_dims(t), false, 1.0 / (double)t->numel) : NULL; }
AG_API ag_tensor *ag_max(ag_tensor *t) { t = ag__arg(t); return ag__reduce("max", t, AG__OP_max, ag__all_dims(t), false, 1.0); }
AG_API ag_tensor *ag_min(ag_tensor *t) { t = ag__arg(t); return ag__reduce("min", t, AG__OP_min, ag__all_dims(t), false, 1.0); }
AG_API ag_tensor *ag_sum_dim(ag_tensor *t, int dim, bool keepdim) { t = ag__arg(t); return ag__reduce_dim("sum_dim", AG__OP_sum, t, dim, keepdim, false); }
AG_API ag_tensor *ag_mean_dim(ag_tensor *t, int dim, bool keepdim) { t = ag__arg(t); return ag__reduce_dim("mean_dim", AG__OP_mean, t, dim, keepdim, true); }
AG_API ag_tensor *ag_max_dim(ag_tensor *t, int dim, bool keepdim) { t = ag__arg(t); return ag__reduce_dim("max_dim", AG__OP_max, t, dim, keepdim, false); }
AG_API ag_tensor *ag_min_dim(ag_tensor *t, int dim, bool keepdim) { t = ag__arg(t); return ag__reduce_dim("min_dim", AG__OP_min, t, dim, keepdim, false); }

/* var = sum((x - mean)^2) / (n - correction) (two passes: no cancellation), computed with ops and
   recorded as one node, whose rule leaves out the mean's term (zero, but NaN where x has an inf) */
static ag_tensor *ag__var_dim(const char *name, ag_tensor *t, int dim, bool keepdim, int correction) {   /* var_dim, std_dim */
    ag_tensor *d, *v, *y;
    double n, denom;
    bool prev;
    if (!t || !ag__dim_s(t->ctx, name, t->ndim, dim, &dim)) return NULL;
    if (correction < 0) { ag__fail(t->ctx, "%s: correction must be >= 0, got %d", name, correction); return NULL; }
    n = dim < 0 ? 1.0 : (double)t->shape[dim];
    denom = n - correction > 0 ? n - correction : 0.0;
    prev = ag_set_grad_enabled(t->ctx, false);
    t->ctx->jvp_off++;
    d = ag_sub(t, ag_mean_dim(t, dim, true));
    v = ag_mul_scalar(ag_sum_dim(ag_mul(d, d), dim, keepdim), 1.0 / denom);
    t->ctx->jvp_off--;
    ag_set_grad_enabled(t->ctx, prev);
    y = v ? ag__result_raw(t->ctx, v->dtype, v->ndim, v->shape, 1) : NULL;
    if (!y) return NULL;
    ag__copy_into(y, v);
    y->ip[0] = dim; y->ip[1] = keepdim; y->fp[0] = 1.0 / denom;
    return ag__finish1(y, AG__OP_var, t);
}
AG_API ag_tensor *ag_var_dim(ag_tensor *t, int dim, bool keepdim, int correction) { t = ag__arg(t);
    return ag__var_dim("var_dim", t, dim, keepdim, correction);
}
/* 2 (x - mean) / (n - correction): d var / d x */
static ag_tensor *ag__var_slope(ag_tensor *y) {
    ag_tensor *x = AG__X;
    return ag_mul_scalar(ag_sub(x, ag_mean_dim(x, (int)y->ip[0], true)), 2.0 * y->fp[0]);
}
static int ag__bw_var(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y 2 (x - mean) / (n - correction) */
    ag_tensor *gk = y->ip[1] || AG__X->ndim == 0 ? g : ag_unsqueeze(g, (int)y->ip[0]);
    gin[0] = ag_mul(gk, ag__var_slope(y));
    return 0;
}
static int ag__jvp_var(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = sum(2 (x - mean) t_x) / (n - correction) */
    (void)op;
    *out = ag_sum_dim(ag_mul(ag__var_slope(y), t[0]), (int)y->ip[0], y->ip[1] != 0);
    return 0;
}
static ag_tensor *ag__var_all(const char *name, ag_tensor *t, int correction) {   /* var, std: over every element */
    int64_t n;
    if (!t) return NULL;
    n = t->numel;
    return ag__var_dim(name, ag_reshape(t, 1, &n), 0, false, correction);
}
AG_API ag_tensor *ag_var(ag_tensor *t, int correction) { t = ag__arg(t); return ag__var_all("var", t, correction); }
AG_API ag_tensor *ag_std_dim(ag_tensor *t, int dim, bool keepdim, int correction) { t = ag__arg(t);
    return ag_sqrt(ag__var_dim("std_dim", t, dim, keepdim, correction));
}
AG_API ag_tensor *ag_std(ag_tensor *t, int correction) { t = ag__arg(t); return ag_sqrt(ag__var_all("std", t, correction)); }

/* m + log(sum(exp(x - m))), m the (detached) largest along dim held to the finite range, so that
   rows of +-inf stay +-inf and nothing overflows; its gradient is softmax(x) (built from ops) */
AG_API ag_tensor *ag_logsumexp(ag_tensor *t, int dim, bool keepdim) { t = ag__arg(t);
    ag_tensor *m, *r;
    double big;
    if (!t || !ag__dim_s(t->ctx, "logsumexp", t->ndim, dim, &dim)) return NULL;
    if (dim < 0) return ag_add_scalar(t, 0.0);   /* a 0-d tensor: itself */
    big = t->dtype == AG_F32 ? (double)FLT_MAX : DBL_MAX;
    m = ag_clamp(ag_detach(ag_max_dim(t, dim, true)), -big, big);
    r = ag_add(ag_log(ag_sum_dim(ag_exp(ag_sub(t, m)), dim, true)), m);
    return keepdim ? r : ag_squeeze(r, dim);
}

/* y[..., i, ...] = sum over j <= i of x[..., j, ...] along dim y->ip[0]; y->ip[1]: from the end instead
   (the backward's reversed sum). x contiguous; sums in double. (The kernel, also run by ag_replay.) */
static void ag__cumsum_run(ag_tensor *y, const ag_tensor *x) {
    int dim = (int)y->ip[0], i;
    bool rev = y->ip[1] != 0;
    int64_t outer = 1, inner = 1, n = x->ndim ? x->shape[dim] : 1, o, in, j;
    if (y->numel == 0) return;
    for (i = 0; i < x->ndim; i++) { if (i < dim) outer *= x->shape[i]; if (i > dim) inner *= x->shape[i]; }
    for (o = 0; o < outer; o++)
        for (in = 0; in < inner; in++) {
            ag__acc acc;
            ag__acc_init(&acc, 0);
            for (j = 0; j < n; j++) {
                int64_t off = (o * n + (rev ? n - 1 - j : j)) * inner + in;
                ag__acc_add(&acc, (ag__accv)ag__load(x, off));
                if (y->dtype == AG_F32) ((float *)y->data)[off] = (float)acc.s; else ((double *)y->data)[off] = acc.s;
            }
        }
}
static bool ag__rerun_cumsum(int op, ag_tensor *y) { (void)op; ag__cumsum_run(y, y->in[0]); return true; }
static ag_tensor *ag__cumsum(ag_tensor *t, int dim, bool reverse) {
    ag_tensor *y;
    if (!t || !ag__dim_s(t->ctx, "cumsum", t->ndim, dim, &dim)) return NULL;
    if (dim < 0) dim = 0;
    t = ag_contiguous(t);
    y = t ? ag__result_raw(t->ctx, t->dtype, t->ndim, t->shape, 1) : NULL;
    if (!y) return NULL;
    y->ip[0] = dim; y->ip[1] = reverse;
    ag__cumsum_run(y, t);
    return ag__finish1(y, AG__OP_cumsum, t);
}
AG_API ag_tensor *ag_cumsum(ag_tensor *t, int dim) { t = ag__arg(t); return ag__cumsum(t, dim, false); }
static int ag__bw_cumsum(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = the same sums from the other end of d y */
    gin[0] = ag__cumsum(g, (int)y->ip[0], y->ip[1] == 0);
    return 0;
}
static int ag__jvp_cumsum(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = cumsum(t_x) */
    (void)op; *out = ag__cumsum(t[0], (int)y->ip[0], y->ip[1] != 0); return 0;
}

/* y[..., i, j] = x[..., i, j] where j - i <= y->ip[0] (tril) or >= y->ip[0] (triu, y->ip[1]), else 0;
   x contiguous. (The kernel, also run by ag_replay.) */
static void ag__tril_run(ag_tensor *y, const ag_tensor *x) {
    int64_t r = x->shape[x->ndim - 2], c = x->shape[x->ndim - 1], k = y->ip[0], e, i, j;
    bool upper = y->ip[1] != 0;
    for (e = 0; e < y->numel; e++) {
        i = e / c % r; j = e % c;
        if (upper ? j - i >= k : j - i <= k) ag__store(y, e, ag__load(x, e)); else ag__store(y, e, 0.0);
    }
}
static bool ag__rerun_tril(int op, ag_tensor *y) { (void)op; ag__tril_run(y, y->in[0]); return true; }
static ag_tensor *ag__tril(ag_tensor *t, int64_t diagonal, bool upper) {
    ag_tensor *y;
    if (!t) return NULL;
    if (t->ndim < 2) {
        char s[200];
        ag__fail(t->ctx, "%s: needs at least 2 dims, got shape %s", upper ? "triu" : "tril", AG__SHAPE(s, t));
        return NULL;
    }
    t = ag_contiguous(t);
    y = t ? ag__result_raw(t->ctx, t->dtype, t->ndim, t->shape, 1) : NULL;
    if (!y) return NULL;
    y->ip[0] = diagonal; y->ip[1] = upper;
    ag__tril_run(y, t);
    return ag__finish1(y, upper ? AG__OP_triu : AG__OP_tril, t);
}
AG_API ag_tensor *ag_tril(ag_tensor *t, int diagonal) { t = ag__arg(t); return ag__tril(t, diagonal, false); }
AG_API ag_tensor *ag_triu(ag_tensor *t, int diagonal) { t = ag__arg(t); return ag__tril(t, diagonal, true); }
static int ag__bw_tril(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = the same triangle of d y */
    gin[0] = ag__tril(g, y->ip[0], y->ip[1] != 0);
    return 0;
}
static int ag__jvp_tril(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = the same triangle of t_x */
    (void)op; *out = ag__tril(t[0], y->ip[0], y->ip[1] != 0); return 0;
}

/* y[i_0, .., i_d, ..] = x[.., n_d - 1 - i_d, ..] for each dim d in the bit mask y->ip[0]; x contiguous.
   (The kernel, also run by ag_replay.) */
static void ag__flip_run(ag_tensor *y, const ag_tensor *x) {
    int64_t e, rest, src, idx;
    int d;
    for (e = 0; e < y->numel; e++) {
        for (rest = e, src = 0, d = x->ndim - 1; d >= 0; d--) {
            idx = rest % x->shape[d]; rest /= x->shape[d];
            if (y->ip[0] >> d & 1) idx = x->shape[d] - 1 - idx;
            src += idx * x->stride[d];
        }
        ag__store(y, e, ag__load(x, src));
    }
}
static bool ag__rerun_flip(int op, ag_tensor *y) { (void)op; ag__flip_run(y, y->in[0]); return true; }
static ag_tensor *ag__flip(ag_tensor *t, int64_t mask) {
    ag_tensor *y;
    t = ag_contiguous(t);
    y = t ? ag__result_raw(t->ctx, t->dtype, t->ndim, t->shape, 1) : NULL;
    if (!y) return NULL;
    y->ip[0] = mask;
    ag__flip_run(y, t);
    return ag__finish1(y, AG__OP_flip, t);
}
AG_API ag_tensor *ag_flip(ag_tensor *t, int ndims, const int *dims) { t = ag__arg(t);
    int64_t mask = 0;
    int i, d;
    if (!t) return NULL;
    if (ndims < 0 || (ndims > 0 && !dims)) { ag__fail(t->ctx, "flip: %d dims given with dims %s", ndims, dims ? "set" : "NULL"); return NULL; }
    for (i = 0; i < ndims; i++) {
        if (!ag__dim_s(t->ctx, "flip", t->ndim, dims[i], &d)) return NULL;
        if (d < 0) continue;   /* dim 0 or -1 of a 0-d tensor */
        if (mask >> d & 1) { ag__fail(t->ctx, "flip: dim %d appears twice", d); return NULL; }
        mask |= (int64_t)1 << d;
    }
    return ag__flip(t, mask);
}
static int ag__bw_flip(ag_tensor *y, ag_tensor *g, ag_tensor **gin) { gin[0] = ag__flip(g, y->ip[0]); return 0; }   /* d x = flip(d y) */
static int ag__jvp_flip(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = flip(t_x) */
    (void)op; *out = ag__flip(t[0], y->ip[0]); return 0;
}

/* roll: the last shift (mod n) entries along dim, then the rest (built from slice and cat) */
AG_API ag_tensor *ag_roll(ag_tensor *t, int64_t shift, int dim) { t = ag__arg(t);
    ag_tensor *parts[2];
    int64_t n;
    if (!t || !ag__dim_s(t->ctx, "roll", t->ndim, dim, &dim)) return NULL;
    n = dim < 0 ? 1 : t->shape[dim];
    shift = n ? ((shift % n) + n) % n : 0;
    if (shift == 0) return ag_add_scalar(t, 0.0);   /* a copy, like PyTorch */
    parts[0] = ag_slice(t, dim, n - shift, n, 1);
    parts[1] = ag_slice(t, dim, 0, n - shift, 1);
    return ag_cat(parts, 2, dim);
}

/* y = the index of the first largest (y->ip[1]: smallest) value of x along dim y->ip[0] (NaN counts
   as both, like PyTorch), x contiguous */
static void ag__argmax_run(ag_tensor *y, const ag_tensor *x) {
    int dim = (int)y->ip[0], i;
    bool smallest = y->ip[1] != 0;
    int64_t outer = 1, inner = 1, n = x->shape[dim], o, in, j;
    if (y->numel == 0) return;   /* no loop over the other dims of an empty result */
    for (i = 0; i < x->ndim; i++) { if (i < dim) outer *= x->shape[i]; if (i > dim) inner *= x->shape[i]; }
    for (o = 0; o < outer; o++)
        for (in = 0; in < inner; in++) {
            int64_t best = 0;
            double bv = ag__load(x, o * n * inner + in);
            for (j = 1; j < n; j++) {
                double v = ag__load(x, (o * n + j) * inner + in);
                if ((smallest ? v < bv : v > bv) || (ag__isnan(v) && !ag__isnan(bv))) { bv = v; best = j; }
            }
            ((ag__idx *)y->data)[o * inner + in] = (ag__idx)best;
        }
}
static bool ag__rerun_argmax(int op, ag_tensor *y) { (void)op; ag__argmax_run(y, y->in[0]); return true; }
/* max_pool2d's argmax of each window (>>layers), here because the op table names its kernel in every build */
/* y [N, C, OH, OW] = h W + w of the maximum of each window of x [N, C, H, W] (contiguous), straight
   from x; the geometry in ip (kh | kw << 32, sh | sw << 32, ph | pw << 32) and fp (dilation) */
/* the window steps [*first, *end) that land inside [0, n): start s0, step d, k steps (no division when d = 1) */
static void ag__pool_span(int64_t s0, int64_t d, int64_t n, int64_t k, int64_t *first, int64_t *end) {
    int64_t e = s0 > n - 1 ? 0 : d == 1 ? n - s0 : (n - 1 - s0) / d + 1;
    *first = s0 >= 0 ? 0 : d == 1 ? -s0 : (-s0 + d - 1) / d;
    *end = e < k ? e : k;
}
/* Each window's first largest value, or its last NaN: PyTorch's v > max || isnan(v) in row-major
   order. The loop keeps max and index by selects (no branch on the data to mispredict) and sums
   the window beside the chain; a window whose sum is NaN is walked again with the rule. The span
   of columns is computed only for the windows that cross the left or right edge. 2 x 2 windows at
   stride 2 (the common pool) take the kernel set's answer (ag__vpool2) where it has one. */
#define AG__POOL_VCOLS 256   /* rows up to this long: the 2 x 2 vector pass (its answers on the stack: 2-4 KB) */
#define AG__POOL_ARGMAX(T, t, ISNAN) { \
    const T *xp = (const T *)(const void *)x->data + pl0 * H * W; \
    int64_t wlo = 0, whi, vc = 0; \
    bool two = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1 && W <= AG__POOL_VCOLS; \
    T code[AG__POOL_VCOLS], vsum[AG__POOL_VCOLS]; \
    while (wlo < OW && wlo * sw - pw < 0) wlo++; \
    for (whi = wlo; whi < OW && whi * sw - pw + (kw - 1) * dw < W; whi++) {} \
    for (pl = pl0; pl < pl1; pl++, xp += H * W) \
        for (oh = 0; oh < OH; oh++) { \
            int64_t h0 = oh * sh - ph, i0, i1; \
            ag__pool_span(h0, dh, H, kh, &i0, &i1); \
            vc = two && 2 * oh + 1 < H ? ag__vpool2_##t(isa, W, xp + 2 * oh * W, xp + (2 * oh + 1) * W, code, vsum) : 0; \
            for (ow = 0; ow < OW; ow++) { \
                int64_t w0 = ow * sw - pw, j0 = 0, j1 = kw, i, j, best; \
                T bv, sum = 0; \
                if (2 * ow < vc && !ISNAN(vsum[2 * ow])) {   /* the vectors' answer, for a window with no NaN */ \
                    int k = (int)code[2 * ow]; \
                    *out++ = (ag__idx)(2 * oh * W + 2 * ow + (k & 1) + (k >> 1) * W); \
                    continue; \
                } \
                if (ow < wlo || ow >= whi) ag__pool_span(w0, dw, W, kw, &j0, &j1); \
                best = (h0 + i0 * dh) * W + w0 + j0 * dw;   /* the window's first element inside x */ \
                bv = i0 < i1 && j0 < j1 ? xp[best] : 0; \
                for (i = i0; i < i1; i++) \
                    for (j = j0; j < j1; j++) { \
                        int64_t at = (h0 + i * dh) * W + w0 + j * dw; \
                        T v = xp[at]; \
                        best = v > bv ? at : best; \
                        bv = v > bv ? v : bv; \
                        sum += v;   /* NaN if the window holds one (or both infinities) */ \
                    } \
                for (i = i0; ISNAN(sum) && i < i1; i++) \
                    for (j = j0; j < j1; j++) { \
                        int64_t at = (h0 + i * dh) * W + w0 + j * dw; \
                        T v = xp[at]; \
                        if (v > bv || ISNAN(v)) { bv = v; best = at; } \
                    } \
                *out++ = (ag__idx)best; \
            } \
        } \
}
#define AG__POOL_PLANES 16   /* planes per task on the pool */
typedef struct { ag_tensor *y; const ag_tensor *x; } ag__pool_job;
static void ag__pool_argmax_task(void *arg, int t) {   /* planes [16 t, 16 t + 16) */
    const ag__pool_job *job = (const ag__pool_job *)arg;
    const ag_tensor *y = job->y, *x = job->x;
    int64_t kh = y->ip[0] & 0xffffffff, kw = y->ip[0] >> 32, sh = y->ip[1] & 0xffffffff, sw = y->ip[1] >> 32;
    int64_t ph = y->ip[2] & 0xffffffff, pw = y->ip[2] >> 32, dh = (int64_t)y->fp[0], dw = (int64_t)y->fp[1];
    int64_t planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3], pl, oh, ow;
    int64_t pl0 = (int64_t)t * AG__POOL_PLANES, pl1 = pl0 + AG__POOL_PLANES < planes ? pl0 + AG__POOL_PLANES : planes;
    ag__idx *out = (ag__idx *)y->data + pl0 * OH * OW;
    int isa = y->ctx->isa;
    if (x->dtype == AG_F32) AG__POOL_ARGMAX(float, f32, ag__isnan_f32)
    AG__F64(else AG__POOL_ARGMAX(double, f64, ag__isnan))
}
static void ag__pool_argmax_run(ag_tensor *y, const ag_tensor *x) {
    ag__pool_job job;
    int64_t planes = x->shape[0] * x->shape[1];
    job.y = y; job.x = x;
    ag__parallel(y->ctx, y->ctx->threads == 1 || x->numel < 2 * AG__MAP_CHUNK, ag__pool_argmax_task, &job,
                 (int)((planes + AG__POOL_PLANES - 1) / AG__POOL_PLANES));
}
static bool ag__rerun_pool_argmax(int op, ag_tensor *y) { (void)op; ag__pool_argmax_run(y, y->in[0]); return true; }
static ag_tensor *ag__argext(ag_tensor *t, int dim, bool keepdim, int op) {
    const char *name = ag__ops[op].name;
    int64_t sh[AG_MAX_DIMS] = {0};
    int i, nd = 0;
    ag_tensor *y;
    if (!t || !ag__dim_s(t->ctx, name, t->ndim, dim, &dim)) return NULL;
    if (dim < 0) return ag_zeros(t->ctx, AG__IDX, 0, NULL);   /* a 0-d tensor: index 0 */
    if (t->shape[dim] == 0) { char s[200]; ag__fail(t->ctx, "%s: dim %d of shape %s is empty", name, dim, AG__SHAPE(s, t)); return NULL; }
    for (i = 0; i < t->ndim; i++) if (i != dim) sh[nd++] = t->shape[i]; else if (keepdim) sh[nd++] = 1;
    t = ag_contiguous(t);
    y = t ? ag__result_raw(t->ctx, AG__IDX, nd, sh, 1) : NULL;
    if (!y) return NULL;
    y->ip[0] = dim; y->ip[1] = op == AG__OP_argmin;
    ag__argmax_run(y, t);
    return ag__finish1(y, op, t);   /* never recorded: it only keeps t for replay */
}
AG_API ag_tensor *ag_argmax(ag_tensor *t, int dim, bool keepdim) { t = ag__arg(t); return ag__argext(t, dim, keepdim, AG__OP_argmax); }
AG_API ag_tensor *ag_argmin(ag_tensor *t, int dim, bool keepdim) { t = ag__arg(t); return ag__argext(t, dim, keepdim, AG__OP_argmin); }

/* ---- matrix products ---- */
/* the geometry of a [..., M, K] @ b [..., K, N] with broadcast batch dims; a 1-D a is [1, K] and
   a 1-D b is [K, 1], dropped from the result */
typedef struct {
    int64_t M, K, N, nbatch, ysh[AG_MAX_DIMS + 2];
    int64_t ars, acs, brs, bcs;                         /* row and column strides of one matrix */
    int64_t batch[AG_MAX_DIMS], bsa[AG_MAX_DIMS], bsb[AG_MAX_DIMS];   /* batch dims and their strides in a, b */
    int nb, yn;
} ag__mm;
static bool ag__mm_geometry(ag_ctx *ctx, const ag_tensor *a, const ag_tensor *b, ag__mm *g) {
    int64_t a1[4], b1[4];   /* a 1-D a as [1, K], a 1-D b as [K, 1]: shape, then strides */
    const int64_t *ash = a->shape, *ast = a->stride, *bsh = b->shape, *bst = b->stride;
    int an = a->ndim < 2 ? 2 : a->ndim, bn = b->ndim < 2 ? 2 : b->ndim, i;
    char s1[200], s2[200];
    g->yn = 0;   /* no memset: every other field read is set below */
    if (a->ndim == 1) { a1[0] = 1; a1[1] = a->shape[0]; a1[2] = 0; a1[3] = a->stride[0]; ash = a1; ast = a1 + 2; }
    if (b->ndim == 1) { b1[0] = b->shape[0]; b1[1] = 1; b1[2] = b->stride[0]; b1[3] = 0; bsh = b1; bst = b1 + 2; }
    g->M = ash[an - 2]; g->K = ash[an - 1]; g->N = bsh[bn - 1];
    g->ars = ast[an - 2]; g->acs = ast[an - 1]; g->brs = bst[bn - 2]; g->bcs = bst[bn - 1];
    if (bsh[bn - 2] != g->K) {
        ag__fail(ctx, "matmul: %s @ %s: inner dimensions differ (%lld != %lld)", AG__SHAPE(s1, a), AG__SHAPE(s2, b),
                 (long long)g->K, (long long)bsh[bn - 2]);
        return false;
    }
    g->nb = (an > bn ? an : bn) - 2;
    g->nbatch = 1;
    for (i = 0; i < g->nb; i++) {
        int ia = i - (g->nb - (an - 2)), ib = i - (g->nb - (bn - 2));
        int64_t da = ia >= 0 ? ash[ia] : 1, db = ib >= 0 ? bsh[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            ag__fail(ctx, "matmul: %s @ %s: batch dims cannot be broadcast (%lld vs %lld)", AG__SHAPE(s1, a), AG__SHAPE(s2, b),
                     (long long)da, (long long)db);
            return false;
        }
        g->batch[i] = da == 1 ? db : da;
        g->bsa[i] = (ia >= 0 && ash[ia] != 1) ? ast[ia] : 0;
        g->bsb[i] = (ib >= 0 && bsh[ib] != 1) ? bst[ib] : 0;
        g->ysh[g->yn++] = g->batch[i];
        g->nbatch *= g->batch[i];
    }
    if (a->ndim > 1) g->ysh[g->yn++] = g->M;
    if (b->ndim > 1) g->ysh[g->yn++] = g->N;
    if (g->yn > AG_MAX_DIMS) { ag__fail(ctx, "matmul: the result would have more than %d dims", AG_MAX_DIMS); return false; }
    return true;
}
/* y = a @ b with geometry g, one packed product per batch entry; false if out of memory */
static bool ag__matmul_products(ag_tensor *y, const ag_tensor *a, const ag_tensor *b, const ag__mm *g) {
    int64_t bi;
    size_t es = ag__esize(y->dtype);
    if (y->numel == 0) return true;   /* [2^40, 0, 1] @ [1, 4]: no loop over empty batches */
    for (bi = 0; bi < g->nbatch; bi++) {
        int64_t rem = bi, oa = 0, ob = 0;
        int i;
        for (i = g->nb - 1; i >= 0; i--) { int64_t ix = rem % g->batch[i]; rem /= g->batch[i]; oa += ix * g->bsa[i]; ob += ix * g->bsb[i]; }
        if (!ag__gemm(y->ctx, y->dtype, g->M, g->N, g->K, a->data + oa * (int64_t)es, g->ars, g->acs, b->data + ob * (int64_t)es,
                      g->brs, g->bcs, y->data + bi * g->M * g->N * (int64_t)es))
            return false;
    }
    return true;
}
/* the kernel ag_replay runs: the geometry again (the op keeps no copy of it), then the products */
static bool ag__matmul_run(ag_tensor *y, const ag_tensor *a, const ag_tensor *b) {
    ag__mm g;
    return ag__mm_geometry(y->ctx, a, b, &g) && ag__matmul_products(y, a, b, &g);
}
static bool ag__rerun_matmul(int op, ag_tensor *y) { (void)op; return ag__matmul_run(y, y->in[0], y->in[1]); }
AG_API ag_tensor *ag_matmul(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL);
    int dt;
    char s1[200], s2[200];
    ag__mm g;
    ag_tensor *y;
    ag_ctx *ctx = ag__ctx2("matmul", a, b);
    if (!ctx) return NULL;
    if (a->ndim == 0 || b->ndim == 0) {
        ag__fail(ctx, "matmul: %s @ %s: both arguments need at least 1 dim", AG__SHAPE(s1, a), AG__SHAPE(s2, b));
        return NULL;
    }
    dt = ag__result_dtype(a, b);
    a = ag_to(a, (ag_dtype)dt);
    b = ag_to(b, (ag_dtype)dt);
    if (!a || !b || !ag__mm_geometry(ctx, a, b, &g)) return NULL;
    y = ag__result_raw(ctx, dt, g.yn, g.ysh, 2);
    if (!y) return NULL;
    if (AG__HALF_VIA_F32(AG__OP_matmul, dt)) { y->in[0] = a; y->in[1] = b; }
    if (!(AG__HALF_VIA_F32(AG__OP_matmul, dt) ? ag__half_run(AG__OP_matmul, y) : ag__matmul_products(y, a, b, &g))) return NULL;
    return ag__finish2(y, AG__OP_matmul, a, b);
}
/* the last two dims are column-major: a transposed view such as W^T */
static bool ag__is_transposed(const ag_tensor *t) {
    return t->ndim >= 2 && t->stride[t->ndim - 2] == 1 && t->stride[t->ndim - 1] != 1 && t->shape[t->ndim - 2] > 1;
}
static int ag__bw_matmul(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d a = d y @ b^T, d b = a^T @ d y (summed over broadcast batch dims) */
    ag_tensor *a = y->in[0], *b = y->in[1];
    ag_tensor *a2 = a->ndim == 1 ? ag_unsqueeze(a, 0) : a, *b2 = b->ndim == 1 ? ag_unsqueeze(b, 1) : b, *g2 = g;
    if (b->ndim == 1) g2 = ag_unsqueeze(g2, g2 ? g2->ndim : 0);
    if (a->ndim == 1) g2 = ag_unsqueeze(g2, g2 ? g2->ndim - 1 : 0);
    if (!a2 || !b2 || !g2) return -1;
    /* each gradient is made in its input's layout: for a transposed input (W^T in linear) the
       product is computed transposed, (b g^T)^T or (g^T a)^T, so no transposing copy follows */
    if (AG__NEED(0)) {
        ag_tensor *ga = ag__is_transposed(a2) ? ag_transpose(ag_matmul(b2, ag_transpose(g2, -1, -2)), -1, -2)
                                              : ag_matmul(g2, ag_transpose(b2, -1, -2));
        gin[0] = ag_reshape(ag__sum_to(ga, a2), a->ndim, a->shape);
    }
    if (AG__NEED(1)) {
        ag_tensor *gb = ag__is_transposed(b2) ? ag_transpose(ag_matmul(ag_transpose(g2, -1, -2), a2), -1, -2)
                                              : ag_matmul(ag_transpose(a2, -1, -2), g2);
        gin[1] = ag_reshape(ag__sum_to(gb, b2), b->ndim, b->shape);
    }
    return 0;
}
static int ag__jvp_matmul(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_a @ b + a @ t_b */
    (void)op;
    *out = ag__jvp_plus(t[0] ? ag_matmul(t[0], y->in[1]) : NULL, t[1] ? ag_matmul(y->in[0], t[1]) : NULL);
    return 0;
}

/* ---- linear: one node, as PyTorch's addmm (a student walking the graph sees linear, then W and b) ---- */
/* y = x W^T + b, W^T a view on the stack; the bias is added row by row (the kernel, also run by ag_replay) */
static bool ag__linear_run(ag_tensor *y, const ag_tensor *x, const ag_tensor *W, const ag_tensor *b) {
    ag_tensor wt = *W;
    int64_t sh[2], st[2];
    sh[0] = W->shape[1]; sh[1] = W->shape[0]; st[0] = W->stride[1]; st[1] = W->stride[0];
    wt.shape = sh; wt.stride = st; wt.vb = NULL;
    if (!ag__matmul_run(y, x, &wt)) return false;
    if (b && y->numel) ag__binary_run(AG__OP_add, y, y, b);   /* y += b, broadcast over the rows */
    return true;
}
static bool ag__rerun_linear(int op, ag_tensor *y) { (void)op; return ag__linear_run(y, y->in[0], y->in[1], y->nin > 2 ? y->in[2] : NULL); }
static int ag__bw_linear(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y W, d W = d y^T x, d b = d y summed over the rows */
    ag_tensor *x = y->in[0], *W = y->in[1];
    int64_t fo[2], fi[2];
    fo[0] = fi[0] = x->ndim > 1 ? x->numel / (x->shape[x->ndim - 1] ? x->shape[x->ndim - 1] : 1) : 1;   /* the rows */
    if (x->ndim > 1 && x->shape[x->ndim - 1] == 0) { int k; fo[0] = fi[0] = 1; for (k = 0; k < x->ndim - 1; k++) fo[0] = fi[0] *= x->shape[k]; }
    fo[1] = W->shape[0]; fi[1] = W->shape[1];
    if (AG__NEED(0)) gin[0] = ag_matmul(g, W);
    if (AG__NEED(1)) gin[1] = ag_matmul(ag_transpose(ag_reshape(g, 2, fo), 0, 1), ag_reshape(x, 2, fi));
    if (y->nin > 2 && AG__NEED(2)) gin[2] = ag_sum_dim(ag_reshape(g, 2, fo), 0, false);
    return 0;
}
static int ag__jvp_linear(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_x W^T + x t_W^T + t_b */
    ag_tensor *x = y->in[0], *W = y->in[1], *tb = y->nin > 2 && t[2] ? ag_expand(t[2], y->ndim, y->shape) : NULL;
    (void)op;
    *out = ag__jvp_plus(ag__jvp_plus(t[0] ? ag_linear(t[0], W, NULL) : NULL, t[1] ? ag_linear(x, t[1], NULL) : NULL), tb);
    return 0;
}
AG_API ag_tensor *ag_linear(ag_tensor *x, ag_tensor *W, ag_tensor *b) { ag__args(&x, &W, &b, NULL, NULL);
    char s1[200], s2[200];
    ag_ctx *ctx;
    if (!x && !W) { if (b) ag__fail(b->ctx, "linear: x and W are NULL"); return NULL; }
    if (!(ctx = ag__ctx2("linear", x, W))) return NULL;
    if (W->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != W->shape[1]) {
        ag__fail(ctx, "linear: x %s and W %s: W must be [out_features, in_features] with in_features = x's last dim",
                 AG__SHAPE(s1, x), AG__SHAPE(s2, W));
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != W->shape[0])) {
        ag__fail(ctx, "linear: bias %s does not match W %s (expected [%lld])", AG__SHAPE(s1, b), AG__SHAPE(s2, W), (long long)W->shape[0]);
        return NULL;
    }
    if (b && b->ctx != ctx) { ag__fail(ctx, "linear: tensors belong to different contexts"); return NULL; }
    if (x->dtype != W->dtype || (b && b->dtype != W->dtype)) {   /* mixed dtypes: the ops promote */
        ag_tensor *y = ag_matmul(x, ag_transpose(W, 0, 1));
        return b ? ag_add(y, b) : y;
    }
    {   /* one node, as PyTorch's addmm: y = x W^T + b */
        int64_t sh[AG_MAX_DIMS];
        int i;
        ag_tensor *y;
        for (i = 0; i < x->ndim - 1; i++) sh[i] = x->shape[i];
        sh[x->ndim - 1] = W->shape[0];
        y = ag__result_raw(ctx, x->dtype, x->ndim, sh, b ? 3 : 2);   /* room for exactly its inputs: the rules read y->nin */
        if (!y) return NULL;
        if (AG__HALF_VIA_F32(AG__OP_linear, y->dtype)) { y->in[0] = x; y->in[1] = W; if (b) y->in[2] = b; }
        if (!(AG__HALF_VIA_F32(AG__OP_linear, y->dtype) ? ag__half_run(AG__OP_linear, y) : ag__linear_run(y, x, W, b))) return NULL;
        {
            ag_tensor *in3[3];
            in3[0] = x; in3[1] = W; in3[2] = b;
            return ag__finish(y, AG__OP_linear, b ? 3 : 2, in3);
        }
    }
}

/* ---- softmax family ---- */
/* y = (log_)softmax(x) over dim y->ip[0], x contiguous (the kernel, also run by ag_replay) */
static void ag__softmax_run(int op, ag_tensor *y, const ag_tensor *x) {
    int64_t outer = 1, inner = 1, n;
    int i, dim = (int)y->ip[0];
    if (y->numel == 0) return;   /* nothing to write (and a row of length 0 has no first element) */
    for (i = 0; i < x->ndim; i++) { if (i < dim) outer *= x->shape[i]; if (i > dim) inner *= x->shape[i]; }
    n = x->ndim ? x->shape[dim] : 1;   /* a 0-d tensor is one row of one */
    if (x->dtype == AG_F32) ag__softmax_f32(x->ctx->isa, (const float *)x->data, (float *)y->data, outer, n, inner, op == AG__OP_log_softmax);
    AG__F64(else ag__softmax_f64(x->ctx->isa, (const double *)x->data, (double *)y->data, outer, n, inner, op == AG__OP_log_softmax);)
}
static bool ag__rerun_softmax(int op, ag_tensor *y) { ag__softmax_run(op, y, y->in[0]); return true; }
static ag_tensor *ag__softmax(const char *name, int op, ag_tensor *t, int dim) {
    ag_tensor *y;
    if (!t || !ag__dim_s(t->ctx, name, t->ndim, dim, &dim)) return NULL;
    if (dim < 0) dim = 0;   /* a 0-d tensor: its one element (the kernel and the rules see dim 0 of 0 dims) */
    t = ag_contiguous(t);   /* the kernel reads rows */
    y = t ? ag__result_raw(t->ctx, t->dtype, t->ndim, t->shape, 1) : NULL;
    if (!y) return NULL;
    y->ip[0] = dim;
    ag__softmax_run(op, y, t);
    return ag__finish1(y, op, t);
}
AG_API ag_tensor *ag_softmax(ag_tensor *t, int dim) { t = ag__arg(t); return ag__softmax("softmax", AG__OP_softmax, t, dim); }
AG_API ag_tensor *ag_log_softmax(ag_tensor *t, int dim) { t = ag__arg(t); return ag__softmax("log_softmax", AG__OP_log_softmax, t, dim); }
static int ag__bw_softmax(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = y (d y - sum(d y * y)) */
    gin[0] = ag_mul(y, ag_sub(g, ag_sum_dim(ag_mul(g, y), (int)y->ip[0], true)));
    return 0;
}
static int ag__bw_log_softmax(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y - exp(y) sum(d y) */
    gin[0] = ag_sub(g, ag_mul(ag_exp(y), ag_sum_dim(g, (int)y->ip[0], true)));
    return 0;
}
static int ag__jvp_log_softmax(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_x - sum(softmax(x) t_x) */
    (void)op;
    *out = ag_sub(t[0], ag_sum_dim(ag_mul(ag_exp(y), t[0]), (int)y->ip[0], true));
    return 0;
}

/* ---- losses and layers ---- */
/* -mean(log_softmax(logits)[i, target_i]) */
/* -ls[n, targets[n]] for log-probabilities ls [N, C] (or [C]), reduced: nll_loss, cross_entropy */
/* class targets for ls [N, C] (or [C], N = 1): the checks and the index record nll_loss,
   cross_entropy and cross_entropy_ex share (what: "logits" or "log_probs"); false after a message */
static bool ag__class_targets(const char *name, const char *what, const ag_tensor *ls, const int32_t *targets, ag__index *r) {
    char s[100];
    memset(r, 0, sizeof *r);
    if (ls->ndim != 1 && ls->ndim != 2) { ag__fail(ls->ctx, "%s: %s must be [N, C] or [C], got %s", name, what, AG__SHAPE(s, ls)); return false; }
    if (!targets) { ag__fail(ls->ctx, "%s: targets is NULL", name); return false; }
    r->op = name; r->what = "target"; r->where = "row";
    r->index = targets; r->n = ls->ndim == 2 ? ls->shape[0] : 1; r->bound = ls->shape[ls->ndim - 1];
    ag__format(r->range, sizeof r->range, "%lld classes (%s %s)", (long long)r->bound, what, AG__SHAPE(s, ls));
    return true;
}
static ag_tensor *ag__nll(const char *name, ag_tensor *ls, const int32_t *targets, ag_reduction red, bool softmax_first) {
    int64_t N, C, flat[2];
    ag_tensor *picked;
    ag__index r;
    if (!ls || !ag__class_targets(name, softmax_first ? "logits" : "log_probs", ls, targets, &r)) return NULL;
    if ((unsigned)red > 2u) { ag__fail(ls->ctx, "%s: unknown reduction %d (AG_MEAN, AG_SUM, AG_NONE)", name, (int)red); return NULL; }
    N = r.n; C = r.bound;
    r.stride = C;
    r.idx = ag__index_alloc(ls->ctx, name, N);
    if (!r.idx || !ag__index_take(ls->ctx, &r)) return NULL;
    if (softmax_first && !(ls = ag_log_softmax(ls, -1))) return NULL;
    flat[0] = N * C; flat[1] = 1;
    picked = ag__gather(ag_reshape(ls, 2, flat), N, r.idx);   /* [N, 1] */
    if (red == AG_NONE) return ag_neg(ag_reshape(picked, ls->ndim - 1, ls->shape));
    return ag_mul_scalar(ag_sum(picked), red == AG_SUM ? -1.0 : -1.0 / (double)N);
}
/* a target tensor as the int32 array the class losses read (again at each replay, after the recorded conversion) */
static bool ag__targets_check(const char *op, ag_tensor *scores, ag_tensor *targets) {
    char s1[200], s2[200];
    int64_t n;
    if (!scores || !targets) { if (scores || targets) ag__fail(scores ? scores->ctx : targets->ctx, "%s: %s is NULL", op, scores ? "targets" : "the input"); return false; }
    if (targets->ctx != scores->ctx) { ag__fail(scores->ctx, "%s: tensors belong to different contexts", op); return false; }
    if (targets->dtype != AG_I32 && targets->dtype != AG_I64) {
        ag__fail(scores->ctx, "%s: the targets %s are %s, not int32 or int64 (class indices)", op, AG__SHAPE(s1, targets), ag_dtype_name((ag_dtype)targets->dtype));
        return false;
    }
    n = scores->ndim == 2 ? scores->shape[0] : 1;
    if (scores->ndim > 2 || (scores->ndim == 2 ? targets->ndim != 1 || targets->shape[0] != n : targets->ndim != 0)) {
        ag__fail(scores->ctx, "%s: targets %s for the input %s: expected %s", op, AG__SHAPE(s1, targets), AG__SHAPE(s2, scores),
                 scores->ndim == 2 ? "[N], one class per row" : "a 0-d tensor");
        return false;
    }
    return true;
}
/* checked targets as the int32 array ag__nll reads */
static const int32_t *ag__targets_of(const char *op, ag_tensor *scores, ag_tensor *targets) {
    int64_t i, n = scores->ndim == 2 ? scores->shape[0] : 1;
    ag_tensor *c;
    for (i = 0; targets->dtype == AG_I64 && i < n; i++) {   /* beyond int32: out of range (the int32 copy would wrap into range) */
        int64_t v = ag__get_int(AG_I64, targets->data + ag__offset(targets, i) * 8);
        if (v < INT32_MIN || v > INT32_MAX) { ag__fail(scores->ctx, "%s: target %lld at row %lld is out of range", op, (long long)v, (long long)i); return NULL; }
    }
    c = ag_contiguous(ag_to(targets, AG_I32));
    return c ? (const int32_t *)(const void *)c->data : NULL;
}
/* the class losses with a target tensor: as ag__nll on its int32 copy, or inside ag_vmap with
   targets per example, -sum(one_hot(targets) * log_probs) over the classes, reduced */
static ag_tensor *ag__nll_t(const char *name, ag_tensor *ls, ag_tensor *targets, ag_reduction r, bool softmax_first) {
    const int32_t *tg;
    ag_tensor *picked;
    if (!ag__targets_check(name, ls, targets)) return NULL;
    if (!targets->vb) return (tg = ag__targets_of(name, ls, targets)) != NULL ? ag__nll(name, ls, tg, r, softmax_first) : NULL;
    if ((unsigned)r > 2u) { ag__fail(ls->ctx, "%s: unknown reduction %d (AG_MEAN, AG_SUM, AG_NONE)", name, (int)r); return NULL; }
    if (softmax_first) ls = ag_log_softmax(ls, -1);
    picked = ls ? ag_sum_dim(ag_mul(ag_one_hot(targets, ls->shape[ls->ndim - 1]), ls), -1, false) : NULL;
    return ag_neg(r == AG_NONE ? picked : r == AG_SUM ? ag_sum(picked) : ag_mean(picked));
}
AG_API ag_tensor *ag_cross_entropy_t(ag_tensor *logits, ag_tensor *targets) { logits = ag__arg(logits); targets = ag__arg_of("batched_index", targets, NULL);
    return ag__nll_t("cross_entropy", logits, targets, AG_MEAN, true);
}
AG_API ag_tensor *ag_nll_loss_t(ag_tensor *log_probs, ag_tensor *targets, ag_reduction r) { log_probs = ag__arg(log_probs); targets = ag__arg_of("batched_index", targets, NULL);
    return ag__nll_t("nll_loss", log_probs, targets, r, false);
}
AG_API ag_tensor *ag_cross_entropy(ag_tensor *logits, const int32_t *targets) { logits = ag__arg(logits);
    return ag__nll("cross_entropy", logits, targets, AG_MEAN, true);
}
AG_API ag_tensor *ag_nll_loss(ag_tensor *log_probs, const int32_t *targets, ag_reduction r) { log_probs = ag__arg(log_probs);
    return ag__nll("nll_loss", log_probs, targets, r, false);
}

AG_API ag_tensor *ag_mse_loss(ag_tensor *a, ag_tensor *b) { ag__args(&a, &b, NULL, NULL, NULL);
    char s1[200], s2[200];
    int i;
    ag_ctx *ctx = ag__ctx2("mse_loss", a, b);
    if (!ctx) return NULL;
    for (i = 0; i < a->ndim && a->ndim == b->ndim; i++) if (a->shape[i] != b->shape[i]) break;
    if (a->ndim != b->ndim || i < a->ndim) { ag__fail(ctx, "mse_loss: shapes %s and %s differ", AG__SHAPE(s1, a), AG__SHAPE(s2, b)); return NULL; }
    {
        ag_tensor *d = ag_sub(a, b);
        return ag_mean(ag_mul(d, d));
    }
}

/* mean(max(x, 0) - x t + log(1 + exp(-|x|))): computed with ops, recorded as one node */
AG_API ag_tensor *ag_bce_with_logits(ag_tensor *x, ag_tensor *t) { ag__args(&x, &t, NULL, NULL, NULL);
    char s1[200], s2[200];
    int i;
    bool prev;
    ag_tensor *v, *y;
    ag_ctx *ctx = ag__ctx2("bce_with_logits", x, t);
    if (!ctx) return NULL;
    for (i = 0; i < x->ndim && x->ndim == t->ndim; i++) if (x->shape[i] != t->shape[i]) break;
    if (x->ndim != t->ndim || i < x->ndim) { ag__fail(ctx, "bce_with_logits: logits %s and targets %s differ in shape", AG__SHAPE(s1, x), AG__SHAPE(s2, t)); return NULL; }
    if (x->dtype != t->dtype) { x = ag_to(x, AG_F64); t = ag_to(t, AG_F64); }
    prev = ag_set_grad_enabled(ctx, false);
    v = ag_mean(ag_add(ag_sub(ag_relu(x), ag_mul(x, t)), ag_log(ag_add_scalar(ag_exp(ag_neg(ag_abs(x))), 1.0))));
    ag_set_grad_enabled(ctx, prev);
    y = v ? ag__result_raw(ctx, v->dtype, 0, NULL, 2) : NULL;   /* a node with room for both inputs; the copy fills it */
    if (!y) return NULL;
    ag__copy_into(y, v);
    return ag__finish2(y, AG__OP_bce_with_logits, x, t);
}
static int ag__bw_bce_with_logits(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y (sigmoid(x) - t) / n, d t = -d y x / n */
    ag_tensor *x = y->in[0], *t = y->in[1];
    double inv = 1.0 / (double)x->numel;
    if (AG__NEED(0)) gin[0] = ag_mul(ag_mul_scalar(g, inv), ag_sub(ag_sigmoid(x), t));
    if (AG__NEED(1)) gin[1] = ag_mul(ag_mul_scalar(g, -inv), x);
    return 0;
}
static int ag__jvp_bce_with_logits(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {
    /* t_y = (sum(t_x (sigmoid(x) - target)) - sum(t_target x)) / n */
    ag_tensor *x = y->in[0], *target = y->in[1];
    double inv = 1.0 / (double)x->numel;
    (void)op;
    *out = ag__jvp_plus(t[0] ? ag_mul_scalar(ag_sum(ag_mul(t[0], ag_sub(ag_sigmoid(x), target))), inv) : NULL,
                        t[1] ? ag_mul_scalar(ag_sum(ag_mul(t[1], x)), -inv) : NULL);
    return 0;
}

/* (x - mean) / sqrt(var + eps) * weight + bias over the last dim, built from ops */
AG_API ag_tensor *ag_layer_norm(ag_tensor *x, ag_tensor *w, ag_tensor *b, double eps) { ag__args(&x, &w, &b, NULL, NULL);
    char s1[200], s2[200];
    int64_t D;
    ag_tensor *xc, *y;
    if (!x) {
        if (w || b) ag__fail((w ? w : b)->ctx, "layer_norm: argument 1 (input) is NULL");
        return NULL;
    }
    if (x->ndim < 1) { ag__fail(x->ctx, "layer_norm: input must have at least 1 dim, got a 0-d tensor"); return NULL; }
    D = x->shape[x->ndim - 1];
    if (w && (w->ndim != 1 || w->shape[0] != D)) { ag__fail(x->ctx, "layer_norm: weight %s does not match input %s (expected [%lld])", AG__SHAPE(s1, w), AG__SHAPE(s2, x), (long long)D); return NULL; }
    if (b && (b->ndim != 1 || b->shape[0] != D)) { ag__fail(x->ctx, "layer_norm: bias %s does not match input %s (expected [%lld])", AG__SHAPE(s1, b), AG__SHAPE(s2, x), (long long)D); return NULL; }
    if (!(eps >= 0)) { ag__fail(x->ctx, "layer_norm: eps must be >= 0, got %g", eps); return NULL; }
    xc = ag_sub(x, ag_mean_dim(x, -1, true));
    y = ag_mul(xc, ag_pow(ag_add_scalar(ag_mean_dim(ag_mul(xc, xc), -1, true), eps), -0.5));
    if (w) y = ag_mul(y, w);
    if (b) y = ag_add(y, b);
    return y;
}

/* x * mask / (1 - p), mask ~ Bernoulli(1 - p) from the context's RNG */
AG_API ag_tensor *ag_dropout(ag_tensor *t, double p, bool training) { t = ag__arg(t);
    ag_tensor *mask;
    if (!t) return NULL;
    if (!(p >= 0 && p <= 1)) { ag__fail(t->ctx, "dropout: p must be in [0, 1], got %g", p); return NULL; }
    if (!training || p == 0) return t;
    if (!ag__no_vmap_random(t->ctx, "dropout")) return NULL;
    mask = ag__result_raw(t->ctx, t->dtype, t->ndim, t->shape, 0);
    if (!mask) return NULL;
    ag__random_fill(mask, AG__RAND_DROPOUT, p);
    return ag_mul(t, mask);
}

/* ---- built from the ops above: views, several dims, norms, gates, distances, losses ----
   Each checks its arguments and names itself in its messages; its gradient, second
   derivative, forward-mode rule and replay come from the ops it is made of (ag_norm_dims is
   one node of its own, for its gradient at a zero vector). */

/* t[..., index, ...] along dim: narrow to one, then drop the dim (a view) */
AG_API ag_tensor *ag_select(ag_tensor *t, int dim, int64_t index) { t = ag__arg(t);
    char s[200];
    if (!t || !ag__dim(t->ctx, "select", t->ndim, dim, &dim)) return NULL;
    if (index < -t->shape[dim] || index >= t->shape[dim]) {
        ag__fail(t->ctx, "select: index %lld is out of range for dim %d of %s", (long long)index, dim, AG__SHAPE(s, t));
        return NULL;
    }
    if (index < 0) index += t->shape[dim];
    return ag_squeeze(ag_narrow(t, dim, index, 1), dim);
}

/* [..., a, b, c, ...] -> [..., a b c, ...] for dims start..end */
AG_API ag_tensor *ag_flatten(ag_tensor *t, int start, int end) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS];
    int i, n = 0;
    if (!t) return NULL;
    if (t->ndim == 0) {   /* PyTorch: a 0-d tensor flattens to [1] (dims 0 and -1 allowed) */
        int64_t one = 1;
        if (!ag__dim_s(t->ctx, "flatten", 0, start, &start) || !ag__dim_s(t->ctx, "flatten", 0, end, &end)) return NULL;
        return ag_reshape(t, 1, &one);
    }
    if (!ag__dim(t->ctx, "flatten", t->ndim, start, &start) || !ag__dim(t->ctx, "flatten", t->ndim, end, &end)) return NULL;
    if (start > end) { ag__fail(t->ctx, "flatten: start_dim %d comes after end_dim %d", start, end); return NULL; }
    for (i = 0; i < t->ndim; i++) {
        if (i <= start || i > end) sh[n++] = t->shape[i];
        else sh[n - 1] *= t->shape[i];
    }
    return ag_reshape(t, n, sh);
}

/* [..., s, ...] -> [..., sizes..., ...]; the sizes multiply to s (one may be -1) */
AG_API ag_tensor *ag_unflatten(ag_tensor *t, int dim, int n, const int64_t *sizes) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS], known = 1;
    int i, k = 0, infer = -1;
    char s1[200];
    if (!t || !ag__dim(t->ctx, "unflatten", t->ndim, dim, &dim)) return NULL;
    if (n < 1 || !sizes || t->ndim - 1 + n > AG_MAX_DIMS) {
        ag__fail(t->ctx, "unflatten: %s; need 1 to %d sizes, got %d", sizes ? "sizes" : "sizes is NULL", AG_MAX_DIMS - t->ndim + 1, n);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (sizes[i] == -1 && infer < 0) { infer = i; continue; }
        if (sizes[i] < 0 || !ag__size_mul(known, sizes[i], &known)) { ag__fail(t->ctx, "unflatten: size %lld (entry %d) is invalid", (long long)sizes[i], i); return NULL; }
    }
    if ((infer < 0 && known != t->shape[dim]) || (infer >= 0 && (known == 0 || t->shape[dim] % known != 0))) {
        ag__fail(t->ctx, "unflatten: sizes do not multiply to %lld, the size of dim %d of %s", (long long)t->shape[dim], dim, AG__SHAPE(s1, t));
        return NULL;
    }
    for (i = 0; i < t->ndim; i++) {
        int j;
        if (i != dim) { sh[k++] = t->shape[i]; continue; }
        for (j = 0; j < n; j++) sh[k++] = j == infer ? t->shape[dim] / known : sizes[j];
    }
    return ag_reshape(t, k, sh);
}

AG_API ag_tensor *ag_movedim(ag_tensor *t, int src, int dst) { t = ag__arg(t);
    int perm[AG_MAX_DIMS], i, k = 0;
    if (!t || !ag__dim_s(t->ctx, "movedim", t->ndim, src, &src) || !ag__dim_s(t->ctx, "movedim", t->ndim, dst, &dst)) return NULL;
    if (src < 0) return t;   /* 0-d */
    for (i = 0; i < t->ndim; i++) {   /* the other dims keep their order around dst */
        if (k == dst) perm[k++] = src;
        if (i != src) perm[k++] = i;
    }
    if (k == dst) perm[k++] = src;
    return ag_permute(t, perm);
}

/* out[i] = narrow(t, dim, offset_i, sizes[i]) */
AG_API int ag_split(ag_tensor *t, int n, const int64_t *sizes, int dim, ag_tensor **out) { t = ag__arg(t);
    int64_t total = 0, at = 0;
    int i;
    char s[200];
    if (!t) return -1;
    if (n < 1 || !sizes || !out) { ag__fail(t->ctx, "split: need n >= 1 sizes and an out array, got n %d%s%s", n, sizes ? "" : ", sizes NULL", out ? "" : ", out NULL"); return -1; }
    if (!ag__dim(t->ctx, "split", t->ndim, dim, &dim)) return -1;
    for (i = 0; i < n; i++) {
        if (sizes[i] < 0 || sizes[i] > t->shape[dim] - total) {
            ag__fail(t->ctx, "split: sizes must be >= 0 and sum to %lld (dim %d of %s); size %d is %lld",
                     (long long)t->shape[dim], dim, AG__SHAPE(s, t), i, (long long)sizes[i]);
            return -1;
        }
        total += sizes[i];
    }
    if (total != t->shape[dim]) { ag__fail(t->ctx, "split: sizes sum to %lld, dim %d of %s has %lld", (long long)total, dim, AG__SHAPE(s, t), (long long)t->shape[dim]); return -1; }
    for (i = 0; i < n; i++) {
        if (!(out[i] = ag_narrow(t, dim, at, sizes[i]))) return -1;
        at += sizes[i];
    }
    return n;
}
/* PyTorch's chunk: pieces of ceil(s / chunks), so there may be fewer than chunks */
AG_API int ag_chunk(ag_tensor *t, int chunks, int dim, ag_tensor **out) { t = ag__arg(t);
    int64_t s, step, at;
    int n = 0;
    if (!t) return -1;
    if (chunks < 1 || !out) { ag__fail(t->ctx, "chunk: chunks must be >= 1 (got %d) and out not NULL", chunks); return -1; }
    if (!ag__dim(t->ctx, "chunk", t->ndim, dim, &dim)) return -1;
    s = t->shape[dim];
    step = s / chunks + (s % chunks != 0);
    if (step == 0) step = 1;
    if (s == 0) {   /* an empty dim gives `chunks` empty pieces, as PyTorch */
        for (n = 0; n < chunks; n++) if (!(out[n] = ag_narrow(t, dim, 0, 0))) return -1;
        return n;
    }
    for (at = 0; at < s; at += step) {
        if (!(out[n] = ag_narrow(t, dim, at, s - at < step ? s - at : step))) return -1;
        n++;
    }
    return n;
}
AG_API int ag_unbind(ag_tensor *t, int dim, ag_tensor **out) { t = ag__arg(t);
    int64_t i;
    if (!t) return -1;
    if (!out) { ag__fail(t->ctx, "unbind: out is NULL"); return -1; }
    if (!ag__dim(t->ctx, "unbind", t->ndim, dim, &dim)) return -1;
    if (t->shape[dim] > INT_MAX) { ag__fail(t->ctx, "unbind: dim %d has %lld entries, more than an int counts", dim, (long long)t->shape[dim]); return -1; }
    for (i = 0; i < t->shape[dim]; i++) if (!(out[i] = ag_select(t, dim, i))) return -1;
    return (int)t->shape[dim];
}

/* tiled: for each dim with repeats r > 1, [.., s, ..] -> [.., 1, s, ..] expanded to [.., r, s, ..]
   and merged to [.., r s, ..] (copies; the gradient sums the copies back) */
AG_API ag_tensor *ag_repeat(ag_tensor *t, int n, const int64_t *reps) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS] = {0}, size;
    int i, lead;
    char s[200];
    if (!t) return NULL;
    if (!reps || n < t->ndim || n > AG_MAX_DIMS) {
        ag__fail(t->ctx, "repeat: need %d to %d repeats for %s, got %d%s", t->ndim, AG_MAX_DIMS, AG__SHAPE(s, t), n, reps ? "" : " (NULL)");
        return NULL;
    }
    lead = n - t->ndim;
    for (i = 0; i < n; i++) {
        sh[i] = i < lead ? 1 : t->shape[i - lead];
        if (reps[i] < 0 || !ag__size_mul(sh[i], reps[i], &size)) { ag__fail(t->ctx, "repeat: repeats[%d] = %lld is invalid for %s", i, (long long)reps[i], AG__SHAPE(s, t)); return NULL; }
    }
    t = ag_reshape(t, n, sh);
    for (i = 0; i < n && t; i++) {
        int64_t e[AG_MAX_DIMS];
        int j;
        if (reps[i] == 1) continue;
        if (n == AG_MAX_DIMS) {   /* no room for the helper dim: concatenate copies */
            ag_tensor **copies = ag__ptr_alloc(t->ctx, reps[i]);
            int64_t k;
            if (!copies || reps[i] > INT_MAX) return NULL;
            for (k = 0; k < reps[i]; k++) copies[k] = t;
            t = reps[i] ? ag_cat(copies, (int)reps[i], i) : ag_narrow(t, i, 0, 0);
            continue;
        }
        for (j = 0; j <= n; j++) e[j] = j < i ? t->shape[j] : j == i ? reps[i] : t->shape[j - 1];
        t = ag_expand(ag_unsqueeze(t, i), n + 1, e);
        e[i] = reps[i] * e[i + 1];
        for (j = i + 1; j < n; j++) e[j] = e[j + 1];
        t = ag_reshape(ag_contiguous(t), n, e);
    }
    return t;
}

/* the set of dims dims[0..n) as a mask (n = 0: all), each once */
static bool ag__dims_mask(ag_tensor *t, const char *name, int n, const int *dims, unsigned *mask) {
    int i, d;
    *mask = 0;
    if (n < 0 || (n > 0 && !dims)) { ag__fail(t->ctx, "%s: %d dims%s", name, n, dims ? "" : " and dims is NULL"); return false; }
    if (n == 0) { *mask = (1u << t->ndim) - 1u; return true; }
    for (i = 0; i < n; i++) {
        if (!ag__dim_s(t->ctx, name, t->ndim, dims[i], &d)) return false;
        if (d < 0) continue;   /* 0-d: its one element */
        if (*mask & (1u << d)) { ag__fail(t->ctx, "%s: dim %d appears twice", name, d); return false; }
        *mask |= 1u << d;
    }
    return true;
}
static ag_tensor *ag__reduce_dims(const char *name, ag_tensor *t, int n, const int *dims, bool keepdim, bool mean) {
    unsigned mask;
    int64_t count = 1;
    int i;
    if (!t || !ag__dims_mask(t, name, n, dims, &mask)) return NULL;
    for (i = 0; i < t->ndim; i++) if (mask & (1u << i)) count *= t->shape[i];
    return ag__reduce(name, t, mean ? AG__OP_mean : AG__OP_sum, mask, keepdim, mean ? 1.0 / (double)count : 1.0);
}
AG_API ag_tensor *ag_sum_dims(ag_tensor *t, int n, const int *dims, bool keepdim) { t = ag__arg(t); return ag__reduce_dims("sum_dims", t, n, dims, keepdim, false); }
AG_API ag_tensor *ag_mean_dims(ag_tensor *t, int n, const int *dims, bool keepdim) { t = ag__arg(t); return ag__reduce_dims("mean_dims", t, n, dims, keepdim, true); }

/* norm_p(x) = (sum |x|^p)^(1/p) = m (sum (|x| / m)^p)^(1/p), m = max |x| (1 where it is 0 or inf):
   no overflow or underflow in the powers. p = 1 and inf are sum(abs) and max(abs) (max's
   gradient splits ties evenly, as PyTorch); other p are one node, whose gradient
       d x = d y sign(x) (|x| / y)^(p - 1)    (x / y for p = 2)
   is 0 where x = 0 and for a zero vector (|x| and y read as 1 there, sign(x) = 0), as PyTorch. */
static ag_tensor *ag__norm_slope(ag_tensor *y) {   /* sign(x) (|x| / y)^(p - 1), y kept to x's dims */
    ag_tensor *x = AG__X, *ax = ag_abs(x), *n = ag__keepdim(y, x, (unsigned)y->ip[0]);
    ag_tensor *safe_ax = ag_add(ax, ag_rsub_scalar(ag__unary(AG__OP_relu_mask, ax, 0, 0), 1.0));
    ag_tensor *safe_n = ag_add(n, ag_rsub_scalar(ag__unary(AG__OP_relu_mask, n, 0, 0), 1.0));
    return ag_mul(ag__unary(AG__OP_sign, x, 0, 0), ag_pow(ag_div(safe_ax, safe_n), y->fp[0] - 1.0));
}
static int ag__bw_norm(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y sign(x) (|x| / y)^(p - 1) */
    gin[0] = ag_mul(ag__keepdim(g, AG__X, (unsigned)y->ip[0]), ag__norm_slope(y));
    return 0;
}
static int ag__jvp_norm(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = sum(sign(x) (|x| / y)^(p - 1) t_x) */
    (void)op;
    *out = ag__reduce("norm", ag_mul(ag__norm_slope(y), t[0]), AG__OP_sum, (unsigned)y->ip[0], y->ip[1] != 0, 1.0);
    return 0;
}
AG_API ag_tensor *ag_norm_dims(ag_tensor *t, double p, int n, const int *dims, bool keepdim) { t = ag__arg(t);
    unsigned mask;
    ag_tensor *ax, *m, *v, *y;
    bool prev;
    if (!t || !ag__dims_mask(t, "norm", n, dims, &mask)) return NULL;
    if (!(p > 0)) { ag__fail(t->ctx, "norm: p must be > 0 or INFINITY, got %g", p); return NULL; }
    if (p == 1) return ag__reduce("norm", ag_abs(t), AG__OP_sum, mask, keepdim, 1.0);
    if (p > DBL_MAX) return t->numel ? ag__reduce("norm", ag_abs(t), AG__OP_max, mask, keepdim, 1.0)
                                     : ag__reduce("norm", t, AG__OP_sum, mask, keepdim, 1.0);   /* empty: 0 */
    prev = ag_set_grad_enabled(t->ctx, false);
    t->ctx->jvp_off++;
    ax = ag_abs(t);
    m = t->numel ? ag__reduce("norm", ax, AG__OP_max, mask, true, 1.0) : ag__reduce("norm", ax, AG__OP_sum, mask, true, 1.0);
    m = ag_add(m, ag_rsub_scalar(ag__unary(AG__OP_between, m, 0, INFINITY), 1.0));   /* 1 where m is 0 or inf, m elsewhere */
    v = ag__reduce("norm", p == 2 ? ag_square(ag_div(ax, m)) : ag_pow(ag_div(ax, m), p), AG__OP_sum, mask, true, 1.0);
    v = ag_mul(m, p == 2 ? ag_sqrt(v) : ag_pow(v, 1.0 / p));
    if (v && !keepdim) v = ag__reduce("norm", v, AG__OP_sum, mask, false, 1.0);   /* drop the kept dims (each has size 1) */
    t->ctx->jvp_off--;
    ag_set_grad_enabled(t->ctx, prev);
    y = v ? ag__result_raw(t->ctx, v->dtype, v->ndim, v->shape, 1) : NULL;
    if (!y) return NULL;
    ag__copy_into(y, v);
    y->ip[0] = (int64_t)mask; y->ip[1] = keepdim; y->fp[0] = p;
    return ag__finish1(y, AG__OP_norm, t);
}
AG_API ag_tensor *ag_norm(ag_tensor *t, double p) { t = ag__arg(t); return ag_norm_dims(t, p, 0, NULL, false); }

/* ---- take / put_add: gather and scatter-add along one dim by an I64 index tensor ----
   take(x, idx, d) = y with y's shape = idx's, y[c] = x[c with c_d = idx[c]] (torch.gather);
   put_add(g, idx, d, shape) = z of that shape, zero, z[c with c_d = idx[c]] += g[c]. Each is the
   other's adjoint. put writes instead of adding (the last write wins); its adjoint is take too. The index tensor is an op's own (argsort's result, or filled from the caller's
   array by a step a replay runs again); ip[0] = d. */
/* ag__take_run along the last dim with every tensor dense and idx's other dims the indexed one's,
   F32 or F64: rows of typed loads and stores, each row touching only its own row of the output,
   so that the pool shares the rows out; false if this path does not apply (nothing done), else
   true with *ok false at an index out of range (as the general loop) */
#define AG__TAKE_TASKS 64
typedef struct { ag_tensor *y; const ag_tensor *x; const ag__idx *iv; int64_t m, L, rows, per; int op; bool bad[AG__TAKE_TASKS]; } ag__take_job;
#define AG__TAKE_AT(v) if ((uint64_t)(v) >= (uint64_t)L) { j->bad[t] = true; return; }   /* v < 0 or v >= L */
#define AG__TAKE_ROWS(T) { \
    const T *xs = (const T *)(const void *)j->x->data; T *ys = (T *)j->y->data; \
    for (; o < o1; o++, iv += m) { \
        if (j->op == AG__OP_take) for (e = 0; e < m; e++) { AG__TAKE_AT(iv[e]) ys[o * m + e] = xs[o * L + iv[e]]; } \
        else if (j->op == AG__OP_put) for (e = 0; e < m; e++) { AG__TAKE_AT(iv[e]) ys[o * L + iv[e]] = xs[o * m + e]; } \
        else for (e = 0; e < m; e++) { AG__TAKE_AT(iv[e]) ys[o * L + iv[e]] += xs[o * m + e]; } \
    } \
}
static void ag__take_task(void *arg, int t) {   /* rows [t per, t per + per) */
    ag__take_job *j = (ag__take_job *)arg;
    int64_t m = j->m, L = j->L, o = (int64_t)t * j->per, o1 = o + j->per < j->rows ? o + j->per : j->rows, e;
    const ag__idx *iv = j->iv + o * m;
    if (j->x->dtype == AG_F32) AG__TAKE_ROWS(float)
    AG__F64(else AG__TAKE_ROWS(double))
}
static bool ag__take_rows(ag_tensor *y, const ag_tensor *x, const ag_tensor *idx, int op, bool *ok) {
    const ag_tensor *big = op == AG__OP_take ? x : y, *src = op == AG__OP_take ? y : x;
    ag__take_job j;
    int k, tasks;
    if (big->ndim != idx->ndim || src->ndim != idx->ndim || !ag__contig(idx) || !ag__contig(x) || !ag__contig(y) || x->dtype != y->dtype ||
        (x->dtype != AG_F32 && x->dtype != AG_F64))
        return false;
    for (k = 0; k < idx->ndim - 1; k++) if (big->shape[k] != idx->shape[k] || src->shape[k] != idx->shape[k]) return false;
    if (src->shape[k] != idx->shape[k]) return false;
    j.y = y; j.x = x; j.iv = (const ag__idx *)idx->data; j.op = op;
    j.m = idx->shape[k]; j.L = big->shape[k]; j.rows = idx->numel / j.m;
    j.per = ag__rows_per_task(y->ctx, j.rows, idx->numel, AG__TAKE_TASKS);
    tasks = (int)((j.rows + j.per - 1) / j.per);
    for (k = 0; k < tasks; k++) j.bad[k] = false;
    ag__parallel(y->ctx, false, ag__take_task, &j, tasks);
    *ok = true;
    for (k = 0; k < tasks; k++) if (j.bad[k]) *ok = false;
    return true;
}
static bool ag__take_run(ag_tensor *y, const ag_tensor *x, const ag_tensor *idx, int op) {
    bool put = op != AG__OP_take;
    int d = (int)y->ip[0], k;
    const ag_tensor *src = put ? x : y;   /* the tensor walked in idx's shape: y (take) or g (put_add) */
    const ag_tensor *big = put ? y : x;   /* the one indexed along d */
    int64_t i, n = idx->numel, c[AG_MAX_DIMS];
    if (put) memset(y->data, 0, (size_t)y->numel * ag__esize(y->dtype));
    if (d == idx->ndim - 1 && n > 0) {
        bool ok;
        if (ag__take_rows(y, x, idx, op, &ok)) return ok;
    }
    for (i = 0; i < n; i++) {
        int64_t r = i, io = 0, so = 0, bo = 0, at;
        int64_t v;
        for (k = idx->ndim - 1; k >= 0; k--) { c[k] = r % idx->shape[k]; r /= idx->shape[k]; }
        for (k = 0; k < idx->ndim; k++) { io += c[k] * idx->stride[k]; so += c[k] * src->stride[k]; if (k != d) bo += c[k] * big->stride[k]; }
        v = ((const ag__idx *)idx->data)[io];
        if (!(v >= 0 && v < big->shape[d])) return false;
        at = bo + v * big->stride[d];
        if (op == AG__OP_put) ag__store(y, at, ag__load(x, so));   /* the last write wins */
        else if (put) ag__store(y, at, ag__load(y, at) + ag__load(x, so));
        else ag__store(y, so, ag__load(x, at));
    }
    return true;
}
static bool ag__rerun_take(int op, ag_tensor *y) {   /* a replay: an index written since may be out of range */
    if (ag__take_run(y, y->in[0], y->in[1], op)) return true;
    ag__fail(y->ctx, "%s: an index is out of range (in ag_replay)", ag__ops[op].name);
    return false;
}
/* op take: y = take(x, idx, d); op put_add / put: y [shape] = put_add(x, idx, d) / put(x, idx, d) */
static ag_tensor *ag__take(int op, ag_tensor *x, ag_tensor *idx, int d, const int64_t *shape) {
    ag_tensor *y;
    if (!x || !idx) return NULL;
    y = ag__result_raw(x->ctx, x->dtype, idx->ndim, op == AG__OP_take ? idx->shape : shape, 2);
    if (!y) return NULL;
    y->ip[0] = d;
    if (!ag__take_run(y, x, idx, op)) {
        ag__fail(x->ctx, "%s: an index is out of range or not an integer", ag__ops[op].name);
        return NULL;
    }
    return ag__finish2(y, op, x, idx);
}
static int ag__bw_take(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = put_add(d y, idx) */
    gin[0] = ag__take(AG__OP_put_add, g, y->in[1], (int)y->ip[0], y->in[0]->shape);
    return 0;
}
static int ag__jvp_take(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = take(t_x, idx) */
    (void)op; *out = t[0] ? ag__take(AG__OP_take, t[0], y->in[1], (int)y->ip[0], NULL) : NULL; return 0;
}
static int ag__bw_put_add(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = take(d y, idx) */
    gin[0] = ag__take(AG__OP_take, g, y->in[1], (int)y->ip[0], NULL);
    return 0;
}
static int ag__jvp_put_add(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = put_add(t_x, idx) (put: put) */
    *out = t[0] ? ag__take(op, t[0], y->in[1], (int)y->ip[0], y->shape) : NULL; return 0;
}
/* an I64 index tensor of the given shape filled from the caller's int64 array, each entry in
   [0, bound); while capturing, a replay reads the array again */
static ag_tensor *ag__index_tensor(ag_ctx *ctx, const char *op, int ndim, const int64_t *shape, const int64_t *index, int64_t bound,
                                   const ag_tensor *of, int dim) {
    ag__index r;
    char s[100];
    ag_tensor *t = ag__result_raw(ctx, AG__IDX, ndim, shape, 0);
    if (!t) return NULL;
    if (t->numel > 0 && !index) { ag__fail(ctx, "%s: index is NULL", op); return NULL; }
    memset(&r, 0, sizeof r);
    r.op = op; r.what = "index"; r.where = "position";
    r.index64 = index; r.dst = (ag__idx *)t->data; r.n = t->numel; r.bound = bound;
    ag__format(r.range, sizeof r.range, "dim %d of %s", dim, AG__SHAPE(s, of));
    return ag__index_take(ctx, &r) ? t : NULL;
}

/* torch.gather: y[c] = t[c with c_dim = index[c]], index (int64, row-major) of the given shape,
   whose sizes may not exceed t's except along dim */
AG_API ag_tensor *ag_gather(ag_tensor *t, int dim, int ndim, const int64_t *shape, const int64_t *index) { t = ag__arg(t);
    char s1[200], s2[200];
    ag_tensor *idx;
    int k;
    if (!t || !ag__dim_s(t->ctx, "gather", t->ndim, dim, &dim)) return NULL;
    if (dim < 0) {   /* a 0-d t: as [1] */
        int64_t one = 1;
        if (!(t = ag_reshape(t, 1, &one))) return NULL;
        dim = 0;
        if (ndim == 0) return ag_reshape(ag_gather(t, 0, 1, &one, index), 0, NULL);
    }
    if (ndim != t->ndim || (ndim > 0 && !shape)) { ag__fail(t->ctx, "gather: the index must have %d dims like the input %s, got %d", t->ndim, AG__SHAPE(s1, t), ndim); return NULL; }
    for (k = 0; k < ndim; k++)
        if (shape[k] < 0 || (k != dim && shape[k] > t->shape[k])) {
            ag__fail(t->ctx, "gather: index shape %s does not fit the input %s (each size but dim %d's at most the input's)",
                     ag__shape_str(s2, sizeof s2, ndim, shape), AG__SHAPE(s1, t), dim);
            return NULL;
        }
    idx = ag__index_tensor(t->ctx, "gather", ndim, shape, index, t->shape[dim], t, dim);
    return ag__take(AG__OP_take, t, idx, dim, NULL);
}
/* the entries index[0..n) of dim (torch.index_select) */
AG_API ag_tensor *ag_index_select(ag_tensor *t, int dim, int64_t n, const int64_t *index) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS], one[AG_MAX_DIMS];
    ag_tensor *idx;
    int k;
    if (!t || !ag__dim(t->ctx, "index_select", t->ndim, dim, &dim)) return NULL;
    if (n < 0) { ag__fail(t->ctx, "index_select: n must be >= 0, got %lld", (long long)n); return NULL; }
    for (k = 0; k < t->ndim; k++) { sh[k] = k == dim ? n : t->shape[k]; one[k] = k == dim ? n : 1; }
    idx = ag__index_tensor(t->ctx, "index_select", 1, &n, index, t->shape[dim], t, dim);
    idx = ag_expand(ag_reshape(idx, t->ndim, one), t->ndim, sh);   /* the same entries along every other dim */
    return ag__take(AG__OP_take, t, idx, dim, NULL);
}
/* t + the entries of src added at index along dim (torch.scatter_add), index shaped like src;
   scatter writes them instead: t (1 - written) + put(src), so t's gradient is 0 where written */
static ag_tensor *ag__scatter(const char *name, bool add, ag_tensor *t, int dim, const int64_t *index, ag_tensor *src);
AG_API ag_tensor *ag_scatter_add(ag_tensor *t, int dim, const int64_t *index, ag_tensor *src) { ag__args(&t, &src, NULL, NULL, NULL);
    return ag__scatter("scatter_add", true, t, dim, index, src);
}
AG_API ag_tensor *ag_scatter(ag_tensor *t, int dim, const int64_t *index, ag_tensor *src) { ag__args(&t, &src, NULL, NULL, NULL);
    return ag__scatter("scatter", false, t, dim, index, src);
}
/* an index tensor argument of op as a dense I64 array for the array forms above: the op reads
   the array again at each replay, and the conversion (an ag_to / ag_contiguous copy, recorded
   before it) runs first; want_ndim -1: any dims */
static const int64_t *ag__index_data(const char *op, ag_tensor *index, int want_ndim, const int64_t *want_shape, const char *like) {
    char s1[200], s2[200];
    ag_tensor *c;
    if (!index) return NULL;
    if (index->dtype != AG_I32 && index->dtype != AG_I64) {
        ag__fail(index->ctx, "%s: the index %s is %s, not int32 or int64", op, AG__SHAPE(s1, index), ag_dtype_name((ag_dtype)index->dtype));
        return NULL;
    }
    if (want_shape && (index->ndim != want_ndim || memcmp(index->shape, want_shape, sizeof(int64_t) * (size_t)want_ndim))) {
        ag__fail(index->ctx, "%s: the index %s must have the shape of %s %s", op, AG__SHAPE(s1, index), like,
                 ag__shape_str(s2, sizeof s2, want_ndim, want_shape));
        return NULL;
    }
    if (!want_shape && want_ndim >= 0 && index->ndim != want_ndim) {
        ag__fail(index->ctx, "%s: the index %s must have %d dim%s (%s)", op, AG__SHAPE(s1, index), want_ndim, want_ndim == 1 ? "" : "s", like);
        return NULL;
    }
    c = ag_contiguous(ag_to(index, AG_I64));
    return c ? (const int64_t *)(const void *)c->data : NULL;
}
AG_API ag_tensor *ag_gather_t(ag_tensor *t, int dim, ag_tensor *index) { t = ag__arg(t); index = ag__arg_of("batched_index", index, NULL);
    const int64_t *ix;
    if (!t || !index) { if (t || index) ag__fail(t ? t->ctx : index->ctx, "gather_t: %s is NULL", t ? "index" : "t"); return NULL; }
    if (index->ctx != t->ctx) { ag__fail(t->ctx, "gather_t: tensors belong to different contexts"); return NULL; }
    if (index->vb) {   /* inside ag_vmap, an index per example: gather over every example at once */
        ag__vbatch u;
        ag_tensor *both[2];
        both[0] = t; both[1] = index;
        if (index->ndim != t->ndim || !ag__dim(t->ctx, "gather_t", t->ndim, dim, &dim) || !ag__vmap_union(t->ctx, "gather_t", 2, both, &u)) {
            if (index->ndim != t->ndim) ag__fail(t->ctx, "gather: the index has %d dims, expected %d (like the input)", index->ndim, t->ndim);
            return NULL;
        }
        return ag__vmap_cover(ag_gather_t(ag__vmap_expose(t, &u), dim + u.n, ag__vmap_expose(index, &u)), &u);
    }
    if (!(ix = ag__index_data("gather", index, t->ndim, NULL, "like the input"))) return NULL;
    return ag_gather(t, dim, index->ndim, index->shape, ix);
}
AG_API ag_tensor *ag_index_select_t(ag_tensor *t, int dim, ag_tensor *index) { t = ag__arg(t); index = ag__index_arg(index);
    const int64_t *ix;
    if (!t || !index) { if (t || index) ag__fail(t ? t->ctx : index->ctx, "index_select_t: %s is NULL", t ? "index" : "t"); return NULL; }
    if (index->ctx != t->ctx) { ag__fail(t->ctx, "index_select_t: tensors belong to different contexts"); return NULL; }
    if (index->ndim > 1) { char s1[200]; ag__fail(t->ctx, "index_select: the index %s must have 1 dim", AG__SHAPE(s1, index)); return NULL; }
    if (!(ix = ag__index_data("index_select", index, -1, NULL, ""))) return NULL;
    return ag_index_select(t, dim, index->numel, ix);
}
static ag_tensor *ag__scatter_t(const char *name, bool add, ag_tensor *t, int dim, ag_tensor *index, ag_tensor *src) {
    const int64_t *ix;
    ag_ctx *ctx = ag__ctx2(name, t, src);
    if (!ctx) return NULL;
    if (!index) { ag__fail(ctx, "%s: index is NULL", name); return NULL; }
    if (index->ctx != ctx) { ag__fail(ctx, "%s: tensors belong to different contexts", name); return NULL; }
    if (!(ix = ag__index_data(name, index, src->ndim, src->shape, "src"))) return NULL;
    return ag__scatter(name, add, t, dim, ix, src);
}
AG_API ag_tensor *ag_scatter_add_t(ag_tensor *t, int dim, ag_tensor *index, ag_tensor *src) { ag__args(&t, &src, NULL, NULL, NULL); index = ag__index_arg(index);
    return ag__scatter_t("scatter_add", true, t, dim, index, src);
}
AG_API ag_tensor *ag_scatter_t(ag_tensor *t, int dim, ag_tensor *index, ag_tensor *src) { ag__args(&t, &src, NULL, NULL, NULL); index = ag__index_arg(index);
    return ag__scatter_t("scatter", false, t, dim, index, src);
}
static ag_tensor *ag__scatter(const char *name, bool add, ag_tensor *t, int dim, const int64_t *index, ag_tensor *src) {
    char s1[200], s2[200];
    ag_tensor *idx, *v;
    int k;
    ag_ctx *ctx = ag__ctx2(name, t, src);
    if (!ctx || !ag__dim(ctx, name, t->ndim, dim, &dim)) return NULL;
    if (src->ndim != t->ndim) { ag__fail(ctx, "%s: src %s must have the %d dims of the input %s", name, AG__SHAPE(s1, src), t->ndim, AG__SHAPE(s2, t)); return NULL; }
    for (k = 0; k < t->ndim; k++)
        if (k != dim && src->shape[k] > t->shape[k]) {
            ag__fail(ctx, "%s: src %s does not fit the input %s (each size but dim %d's at most the input's)", name, AG__SHAPE(s1, src), AG__SHAPE(s2, t), dim);
            return NULL;
        }
    idx = ag__index_tensor(ctx, name, src->ndim, src->shape, index, t->shape[dim], t, dim);
    v = ag__take(add ? AG__OP_put_add : AG__OP_put, ag_to(src, (ag_dtype)t->dtype), idx, dim, t->shape);
    if (add || !v) return ag_add(t, v);
    {   /* the positions written: 1 there, 0 elsewhere (no gradient) */
        bool prev = ag_set_grad_enabled(ctx, false);
        ag_tensor *written = ag__take(AG__OP_put, ag_ones(ctx, (ag_dtype)t->dtype, src->ndim, src->shape), idx, dim, t->shape);
        ag_set_grad_enabled(ctx, prev);
        return ag_add(ag_mul(t, ag_rsub_scalar(written, 1.0)), v);
    }
}

/* ---- argsort: the kernel behind sort, topk, kthvalue and median ----
   Stable merge sort of each slice along dim (ip[0]); ip[1]: descending. NaN counts as larger
   than every number (last ascending, first descending), as PyTorch. y: I64 indices, x's shape;
   extra: room for one slice of int64 (the merge buffer, kept for replays). */
static bool ag__before(double a, double b, bool desc) {   /* a strictly before b */
    if (desc) return (ag__isnan(a) && !ag__isnan(b)) || a > b;
    return !ag__isnan(a) && (ag__isnan(b) || a < b);
}
static bool ag__rerun_argsort(int op, ag_tensor *y) {
    const ag_tensor *x = y->in[0];
    int dim = (int)y->ip[0], k;
    bool desc = y->ip[1] != 0;
    int64_t outer = 1, inner = 1, n = x->shape[dim], o, in, w, i, *a, *tmp = (int64_t *)y->extra;
    ag__idx *out = (ag__idx *)y->data;
    (void)op;
    if (y->numel == 0) return true;
    a = tmp + n;
    for (k = 0; k < x->ndim; k++) { if (k < dim) outer *= x->shape[k]; if (k > dim) inner *= x->shape[k]; }
    for (o = 0; o < outer; o++)
        for (in = 0; in < inner; in++) {
            int64_t base = o * n * inner + in;
            for (i = 0; i < n; i++) a[i] = i;
            for (w = 1; w < n; w *= 2) {   /* bottom-up merge of runs of w */
                int64_t lo;
                for (lo = 0; lo < n; lo += 2 * w) {
                    int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, p = lo, q = mid, t = lo;
                    while (p < mid && q < hi)
                        tmp[t++] = ag__before(ag__load(x, ag__offset(x, base + a[q] * inner)), ag__load(x, ag__offset(x, base + a[p] * inner)), desc) ? a[q++] : a[p++];
                    while (p < mid) tmp[t++] = a[p++];
                    while (q < hi) tmp[t++] = a[q++];
                }
                memcpy(a, tmp, sizeof(int64_t) * (size_t)n);
            }
            for (i = 0; i < n; i++) out[base + i * inner] = (double)a[i];
        }
    return true;
}
AG_API ag_tensor *ag_argsort(ag_tensor *t, int dim, bool descending) { t = ag__arg(t);
    ag_tensor *y;
    int64_t bytes;
    if (!t || !ag__dim_s(t->ctx, "argsort", t->ndim, dim, &dim)) return NULL;
    if (dim < 0) return ag_zeros(t->ctx, AG__IDX, 0, NULL);   /* 0-d: index 0 */
    if (!ag__size_mul(t->shape[dim] ? 2 * t->shape[dim] : 1, (int64_t)sizeof(int64_t), &bytes) || (uint64_t)bytes > (uint64_t)SIZE_MAX) {
        ag__fail(t->ctx, "argsort: dim %d has %lld entries, too many to sort", dim, (long long)t->shape[dim]);
        return NULL;
    }
    y = ag__result_raw(t->ctx, AG__IDX, t->ndim, t->shape, 1);
    if (!y || !(y->extra = ag__arena_alloc(t->ctx, (size_t)bytes, 16))) return NULL;
    y->ip[0] = dim; y->ip[1] = descending;
    y->in[0] = t;   /* the kernel reads its input there; no gradient flows through indices */
    ag__rerun_argsort(AG__OP_argsort, y);
    return ag__finish1(y, AG__OP_argsort, t);
}
/* values in order along dim; *indices (if not NULL) gets argsort's I64 indices */
AG_API ag_tensor *ag_sort(ag_tensor *t, int dim, bool descending, ag_tensor **indices) { t = ag__arg(t);
    ag_tensor *idx = ag_argsort(t, dim, descending);
    if (indices) *indices = idx;
    if (!idx) return NULL;
    if (t->ndim == 0) return t;
    return ag__take(AG__OP_take, t, idx, dim < 0 ? dim + t->ndim : dim, NULL);
}
/* the first k of t sorted along dim (single: only the k-th, k from 1), and their indices */
static ag_tensor *ag__sorted_k(const char *name, ag_tensor *t, int64_t k, int dim, bool desc, bool single, ag_tensor **indices, int *d) {
    ag_tensor *idx;
    char s[200];
    *indices = NULL;
    if (!t || !ag__dim_s(t->ctx, name, t->ndim, dim, d)) return NULL;
    if (k < (single ? 1 : 0) || k > (*d < 0 ? 1 : t->shape[*d])) {
        ag__fail(t->ctx, "%s: k %lld is out of range for dim %d of %s", name, (long long)k, dim, AG__SHAPE(s, t));
        return NULL;
    }
    if (*d < 0) { *indices = ag_zeros(t->ctx, AG__IDX, 0, NULL); return t; }   /* 0-d: itself, index 0 */
    idx = ag_narrow(ag_argsort(t, *d, desc), *d, single ? k - 1 : 0, single ? 1 : k);
    *indices = idx;
    return ag__take(AG__OP_take, t, idx, *d, NULL);
}
/* the k largest (or smallest) along dim, in order */
AG_API ag_tensor *ag_topk(ag_tensor *t, int64_t k, int dim, bool largest, ag_tensor **indices) { t = ag__arg(t);
    ag_tensor *idx, *y;
    int d;
    y = ag__sorted_k("topk", t, k, dim, largest, false, &idx, &d);
    if (indices) *indices = idx;
    return y;
}
/* the k-th smallest along dim (k from 1), as torch.kthvalue */
AG_API ag_tensor *ag_kthvalue(ag_tensor *t, int64_t k, int dim, bool keepdim, ag_tensor **indices) { t = ag__arg(t);
    ag_tensor *idx, *y;
    int d;
    y = ag__sorted_k("kthvalue", t, k, dim, false, true, &idx, &d);
    if (y && d >= 0 && !keepdim) { y = ag_squeeze(y, d); idx = ag_squeeze(idx, d); }
    if (indices) *indices = y ? idx : NULL;
    return y;
}
/* the lower median along dim (torch.median(t, dim)); a slice with a NaN gives NaN */
AG_API ag_tensor *ag_median_dim(ag_tensor *t, int dim, bool keepdim, ag_tensor **indices) { t = ag__arg(t);
    int d;
    if (indices) *indices = NULL;
    if (!t || !ag__dim_s(t->ctx, "median", t->ndim, dim, &d)) return NULL;
    if (d >= 0 && t->shape[d] == 0) { char s[200]; ag__fail(t->ctx, "median: dim %d of %s is empty", d, AG__SHAPE(s, t)); return NULL; }
    if (d < 0) { if (indices) *indices = ag_zeros(t->ctx, AG__IDX, 0, NULL); return t; }
    {   /* NaN sorts last; a slice with one gives its first NaN instead (argmax finds the first largest) */
        ag_tensor *idx = ag_narrow(ag_argsort(t, d, false), d, (t->shape[d] - 1) / 2, 1), *isnan, *has_nan, *y;
        bool prev = ag_set_grad_enabled(t->ctx, false);
        isnan = ag_rsub_scalar(ag__binary(AG__OP_eq_mask, t, t), 1.0);                     /* 1 where t is NaN */
        has_nan = ag__reduce("median", isnan, AG__OP_max, 1u << d, true, 1.0);
        idx = ag_where(ag_gt(has_nan, ag_zeros(t->ctx, (ag_dtype)t->dtype, 0, NULL)), ag_argmax(isnan, d, true), idx);
        ag_set_grad_enabled(t->ctx, prev);
        y = ag__take(AG__OP_take, t, idx, d, NULL);
        if (!keepdim) { y = ag_squeeze(y, d); idx = ag_squeeze(idx, d); }
        if (indices) *indices = idx;
        return y;
    }
}
AG_API ag_tensor *ag_median(ag_tensor *t) { t = ag__arg(t);
    int64_t n;
    if (!t) return NULL;
    if (t->numel == 0) { ag__fail(t->ctx, "median: the input is empty"); return NULL; }
    n = t->numel;
    return ag_median_dim(ag_reshape(t, 1, &n), 0, false, NULL);
}

/* ---- more shapes, constructors, products and scans, einsum ---- */
AG_API ag_tensor *ag_squeeze_all(ag_tensor *t) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS];
    int i, n = 0;
    if (!t) return NULL;
    for (i = 0; i < t->ndim; i++) if (t->shape[i] != 1) sh[n++] = t->shape[i];
    return n == t->ndim ? t : ag_reshape(t, n, sh);
}
/* torch.tile: repeats shorter than ndim are padded with leading 1s */
AG_API ag_tensor *ag_tile(ag_tensor *t, int n, const int64_t *reps) { t = ag__arg(t);
    int64_t r[AG_MAX_DIMS];
    int i, lead;
    if (!t) return NULL;
    if (n < 0 || n > AG_MAX_DIMS || (n > 0 && !reps)) { ag__fail(t->ctx, "tile: need 0 to %d repeats, got %d%s", AG_MAX_DIMS, n, reps ? "" : " (NULL)"); return NULL; }
    if (n >= t->ndim) return ag_repeat(t, n, reps);
    lead = t->ndim - n;
    for (i = 0; i < t->ndim; i++) r[i] = i < lead ? 1 : reps[i - lead];
    return ag_repeat(t, t->ndim, r);
}
/* each entry along dim repeated `repeats` times in place: [a, b] -> [a, a, b, b] */
AG_API ag_tensor *ag_repeat_interleave(ag_tensor *t, int64_t repeats, int dim) { t = ag__arg(t);
    int64_t sh[AG_MAX_DIMS + 1], size;
    int i;
    char s[200];
    if (!t || !ag__dim(t->ctx, "repeat_interleave", t->ndim, dim, &dim)) return NULL;
    if (repeats < 0 || !ag__size_mul(t->shape[dim], repeats, &size) || t->ndim == AG_MAX_DIMS) {
        ag__fail(t->ctx, "repeat_interleave: %lld repeats of dim %d of %s: %s", (long long)repeats, dim, AG__SHAPE(s, t),
                 t->ndim == AG_MAX_DIMS ? "needs a dim to spare" : "repeats must be >= 0 and the size must fit");
        return NULL;
    }
    for (i = 0; i <= t->ndim; i++) sh[i] = i <= dim ? t->shape[i] : i == dim + 1 ? repeats : t->shape[i - 1];
    t = ag_expand(ag_unsqueeze(t, dim + 1), t->ndim + 1, sh);
    return ag_flatten(ag_contiguous(t), dim, dim + 1);
}
/* the diagonal of dims d1, d2 (entries (i, i + offset)) as a new last dim, torch.diagonal */
AG_API ag_tensor *ag_diagonal(ag_tensor *t, int64_t offset, int d1, int d2) { t = ag__arg(t);
    int64_t n, m, L, r0, c0, i, sh[AG_MAX_DIMS];
    ag_tensor *sub, *idx;
    int perm[AG_MAX_DIMS], k, j = 0;
    if (!t) return NULL;
    if (t->ndim < 2) { char s[200]; ag__fail(t->ctx, "diagonal: needs at least 2 dims, got %s", AG__SHAPE(s, t)); return NULL; }
    if (!ag__dim(t->ctx, "diagonal", t->ndim, d1, &d1) || !ag__dim(t->ctx, "diagonal", t->ndim, d2, &d2)) return NULL;
    if (d1 == d2) { ag__fail(t->ctx, "diagonal: dims %d and %d are the same", d1, d2); return NULL; }
    for (k = 0; k < t->ndim; k++) if (k != d1 && k != d2) perm[j++] = k;
    perm[j++] = d1; perm[j] = d2;
    if (!(t = ag_permute(t, perm))) return NULL;   /* [..., n, m] */
    n = t->shape[t->ndim - 2]; m = t->shape[t->ndim - 1];
    r0 = offset < 0 ? (offset < -n ? n : -offset) : 0;
    c0 = offset > 0 ? (offset > m ? m : offset) : 0;
    L = n - r0 < m - c0 ? n - r0 : m - c0;
    sub = ag_narrow(ag_narrow(t, -2, r0, L), -1, c0, L);   /* [..., L, L]: entry (i, i) */
    if (!sub) return NULL;
    {   /* take column i of row i: an index [1.., L, 1] of 0..L-1, expanded over the other dims */
        int64_t ish[AG_MAX_DIMS];
        for (k = 0; k < t->ndim; k++) { ish[k] = k == t->ndim - 2 ? L : 1; sh[k] = k < t->ndim - 1 ? sub->shape[k] : 1; }
        if (!(idx = ag__result_raw(t->ctx, AG__IDX, t->ndim, ish, 0))) return NULL;
        for (i = 0; i < L; i++) ((ag__idx *)idx->data)[i] = (ag__idx)i;
        idx = ag_expand(idx, t->ndim, sh);
    }
    return ag_squeeze(ag__take(AG__OP_take, sub, idx, t->ndim - 1, NULL), -1);
}
/* 1-D v: the square matrix with v on diagonal offset (torch.diag); 2-D: that diagonal */
AG_API ag_tensor *ag_diag(ag_tensor *t, int64_t offset) { t = ag__arg(t);
    int64_t L, n, a, i, pads[4], ish[2], rsh[2], vsh[2];
    ag_tensor *idx, *rows;
    if (!t) return NULL;
    if (t->ndim == 2) return ag_diagonal(t, offset, 0, 1);
    if (t->ndim != 1) { char s[200]; ag__fail(t->ctx, "diag: needs a 1-D or 2-D tensor, got %s", AG__SHAPE(s, t)); return NULL; }
    L = t->shape[0];
    a = offset < 0 ? -offset : offset;
    if (a > ((int64_t)1 << 31) || L > ((int64_t)1 << 31)) { ag__fail(t->ctx, "diag: offset %lld for %lld entries is too large", (long long)offset, (long long)L); return NULL; }
    n = L + a;
    ish[0] = L; ish[1] = 1; rsh[0] = L; rsh[1] = n; vsh[0] = L; vsh[1] = 1;
    if (!(idx = ag__result_raw(t->ctx, AG__IDX, 2, ish, 0))) return NULL;
    for (i = 0; i < L; i++) ((ag__idx *)idx->data)[i] = (ag__idx)(i + (offset > 0 ? offset : 0));
    rows = ag__take(AG__OP_put_add, ag_reshape(t, 2, vsh), idx, 1, rsh);   /* row i: v[i] in column i + offset */
    pads[0] = 0; pads[1] = 0; pads[2] = offset < 0 ? a : 0; pads[3] = offset < 0 ? 0 : a;   /* then rows above / below */
    return ag_pad(rows, 4, pads, AG_PAD_CONSTANT, 0.0);
}
AG_API ag_tensor *ag_trace(ag_tensor *t) { t = ag__arg(t);
    if (t && t->ndim != 2) { char s[200]; ag__fail(t->ctx, "trace: needs a 2-D tensor, got %s", AG__SHAPE(s, t)); return NULL; }
    return ag_sum(ag_diagonal(t, 0, 0, 1));
}

/* F.pad: pads[2k], pads[2k + 1] are added before and after dim ndim - 1 - k (the last dim first);
   constant: value; reflect: mirrored without the edge; replicate: the edge; circular: wrapped.
   Negative pads crop. */
AG_API ag_tensor *ag_pad(ag_tensor *t, int n, const int64_t *pads, ag_pad_mode mode, double value) { t = ag__arg(t);
    static const char *const names[4] = {"constant", "reflect", "replicate", "circular"};
    char s[200];
    int k;
    if (!t) return NULL;
    if (n < 0 || n % 2 || n / 2 > t->ndim || (n > 0 && !pads)) {
        ag__fail(t->ctx, "pad: need an even count of pads, at most 2 per dim of %s, got %d%s", AG__SHAPE(s, t), n, pads ? "" : " (NULL)");
        return NULL;
    }
    if ((unsigned)mode > 3u) { ag__fail(t->ctx, "pad: unknown mode %d", (int)mode); return NULL; }
    for (k = 0; k < n / 2 && t; k++) {
        int d = t->ndim - 1 - k, j;
        int64_t lo = pads[2 * k], hi = pads[2 * k + 1], size = t->shape[d], sh[AG_MAX_DIMS];
        ag_tensor *parts[3];
        int np = 0;
        if (lo < -size || hi < -size || lo > ((int64_t)1 << 40) || hi > ((int64_t)1 << 40) || (lo < 0 && hi < 0 && lo + hi < -size) ||
            (mode != AG_PAD_CONSTANT && (lo < 0 || hi < 0)) ||
            (mode == AG_PAD_REFLECT && (lo >= size || hi >= size)) || (mode == AG_PAD_CIRCULAR && (lo > size || hi > size)) ||
            (mode == AG_PAD_REPLICATE && size == 0 && (lo || hi))) {
            ag__fail(t->ctx, "pad: %s padding (%lld, %lld) of dim %d of %s is out of range%s", names[mode], (long long)lo, (long long)hi, d, AG__SHAPE(s, t),
                     mode == AG_PAD_REFLECT ? " (each must be less than the dim's size)" : mode == AG_PAD_CIRCULAR ? " (each at most the dim's size)" : "");
            return NULL;
        }
        if (lo < 0) { t = ag_narrow(t, d, -lo, size + lo); size += lo; lo = 0; }   /* negative: crop */
        if (t && hi < 0) { t = ag_narrow(t, d, 0, size + hi); size += hi; hi = 0; }
        if (!t) return NULL;
        for (j = 0; j < t->ndim; j++) sh[j] = t->shape[j];
        if (lo) {
            sh[d] = lo;
            parts[np++] = mode == AG_PAD_CONSTANT ? ag_full(t->ctx, (ag_dtype)t->dtype, t->ndim, sh, value)
                        : mode == AG_PAD_REFLECT ? ag_flip(ag_narrow(t, d, 1, lo), 1, &d)
                        : mode == AG_PAD_REPLICATE ? ag_expand(ag_narrow(t, d, 0, 1), t->ndim, sh)
                        : ag_narrow(t, d, size - lo, lo);
        }
        parts[np++] = t;
        if (hi) {
            sh[d] = hi;
            parts[np++] = mode == AG_PAD_CONSTANT ? ag_full(t->ctx, (ag_dtype)t->dtype, t->ndim, sh, value)
                        : mode == AG_PAD_REFLECT ? ag_flip(ag_narrow(t, d, size - 1 - hi, hi), 1, &d)
                        : mode == AG_PAD_REPLICATE ? ag_expand(ag_narrow(t, d, size - 1, 1), t->ndim, sh)
                        : ag_narrow(t, d, 0, hi);
        }
        if (np > 1) t = ag_cat(parts, np, d);
    }
    return t;
}

/* ---- constructors ---- */
AG_API ag_tensor *ag_eye(ag_ctx *ctx, ag_dtype dtype, int64_t n, int64_t m) {
    int64_t sh[2], i;
    ag_tensor *t;
    sh[0] = n; sh[1] = m;
    if (!(t = ag__full(ctx, "eye", dtype, 2, sh, 0.0))) return NULL;
    for (i = 0; i < n && i < m; i++) ag__store(t, i * m + i, 1.0);
    return t;
}
/* torch.linspace: the first half counts up from start, the second back from end (both ends exact);
   logspace: base to those powers */
static ag_tensor *ag__linspace(ag_ctx *ctx, const char *op, ag_dtype dtype, double start, double end, int64_t steps, double base) {
    ag_tensor *t;
    double step;
    int64_t i;
    if (!ctx) return NULL;
    if (steps < 0 || ag__isnan(start) || ag__isnan(end) || fabs(start) > DBL_MAX || fabs(end) > DBL_MAX) {
        ag__fail(ctx, "%s: steps %lld must be >= 0 and start %g, end %g finite", op, (long long)steps, start, end);
        return NULL;
    }
    if (!(t = ag__full(ctx, op, dtype, 1, &steps, 0.0))) return NULL;
    step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
    for (i = 0; i < steps; i++) {
        double v = i < steps / 2 ? start + step * (double)i : end - step * (double)(steps - 1 - i);
        ag__store(t, i, base > 0 ? pow(base, v) : v);
    }
    return t;
}
AG_API ag_tensor *ag_linspace(ag_ctx *ctx, ag_dtype dtype, double start, double end, int64_t steps) {
    return ag__linspace(ctx, "linspace", dtype, start, end, steps, 0.0);
}
AG_API ag_tensor *ag_logspace(ag_ctx *ctx, ag_dtype dtype, double start, double end, int64_t steps, double base) {
    if (ctx && !(base > 0 && base <= DBL_MAX)) { ag__fail(ctx, "logspace: base must be finite and > 0, got %g", base); return NULL; }
    return ag__linspace(ctx, "logspace", dtype, start, end, steps, base);
}
/* out[i]: 1-D ts[i] expanded over the grid [len(ts[0]), len(ts[1]), ...] (views); xy indexing
   swaps the first two grid dims, as numpy's default */
AG_API int ag_meshgrid(int n, ag_tensor *const *ts, bool xy, ag_tensor **out) {
    int64_t sh[AG_MAX_DIMS] = {0}, one[AG_MAX_DIMS];
    ag_ctx *ctx = NULL;
    int i, k;
    char s[200];
    if (n < 1 || n > AG_MAX_DIMS || !ts || !out) {
        for (i = 0; ts && i < n && i < AG_MAX_DIMS && !ctx; i++) if (ts[i]) ctx = ts[i]->ctx;
        if (ctx) ag__fail(ctx, "meshgrid: need 1 to %d inputs and an out array, got n %d%s", AG_MAX_DIMS, n, out ? "" : ", out NULL");
        return -1;
    }
    if (!ag__live_list("meshgrid", NULL, n, ts)) return -1;
    for (i = 0; i < n && !ctx; i++) if (ts[i]) ctx = ts[i]->ctx;
    for (i = 0; i < n; i++) {
        if (!ts[i] || ts[i]->ctx != ctx || ts[i]->ndim != 1) {
            if (ctx) ag__fail(ctx, "meshgrid: input %d %s", i, !ts[i] ? "is NULL" : ts[i]->ctx != ctx ? "belongs to another context" : "must be 1-D");
            (void)s;
            return -1;
        }
        sh[i] = ts[i]->shape[0];
    }
    if (xy && n >= 2) { int64_t tmp = sh[0]; sh[0] = sh[1]; sh[1] = tmp; }
    for (i = 0; i < n; i++) {
        int at = xy && n >= 2 && i < 2 ? 1 - i : i;   /* the grid dim that runs along ts[i] */
        for (k = 0; k < n; k++) one[k] = k == at ? sh[k] : 1;
        if (!(out[i] = ag_expand(ag_reshape(ts[i], n, one), n, sh))) return -1;
    }
    return n;
}

/* ---- products and scans, built from mul / maximum / minimum, so that every gradient (zeros
   included) and second derivative comes from theirs ---- */
/* the product along dim: halves multiplied level by level (log2 of the size levels) */
AG_API ag_tensor *ag_prod_dim(ag_tensor *t, int dim, bool keepdim) { t = ag__arg(t);
    int64_t n;
    int d;
    if (!t || !ag__dim_s(t->ctx, "prod", t->ndim, dim, &d)) return NULL;
    if (d < 0) return t;
    n = t->shape[d];
    if (n == 0) {   /* the empty product: ones */
        int64_t sh[AG_MAX_DIMS];
        int k, m = 0;
        for (k = 0; k < t->ndim; k++) if (k != d || keepdim) sh[m++] = k == d ? 1 : t->shape[k];
        return ag_ones(t->ctx, (ag_dtype)t->dtype, m, sh);
    }
    while (t && n > 1) {
        int64_t h = n / 2;
        ag_tensor *p = ag_mul(ag_narrow(t, d, 0, h), ag_narrow(t, d, h, h));
        if (n % 2) { ag_tensor *two[2]; two[0] = p; two[1] = ag_narrow(t, d, n - 1, 1); p = ag_cat(two, 2, d); }
        t = p;
        n = h + n % 2;
    }
    return keepdim ? t : ag_squeeze(t, d);
}
AG_API ag_tensor *ag_prod(ag_tensor *t) { t = ag__arg(t);
    int64_t n;
    if (!t) return NULL;
    n = t->numel;
    return ag_prod_dim(ag_reshape(t, 1, &n), 0, false);
}
/* inclusive scans along dim by doubling: y = y op (y shifted by s, the identity shifted in), s = 1, 2, 4, ... */
static ag_tensor *ag__scan(const char *name, ag_tensor *t, int dim, int op) {
    int64_t n, s, sh[AG_MAX_DIMS];
    int d, k;
    double fill = op == AG__OP_mul ? 1.0 : op == AG__OP_maximum ? -INFINITY : INFINITY;
    if (!t || !ag__dim_s(t->ctx, name, t->ndim, dim, &d)) return NULL;
    if (d < 0) return t;
    n = t->shape[d];
    for (s = 1; s < n && t; s *= 2) {
        ag_tensor *parts[2];
        for (k = 0; k < t->ndim; k++) sh[k] = k == d ? s : t->shape[k];
        parts[0] = ag_full(t->ctx, (ag_dtype)t->dtype, t->ndim, sh, fill);
        parts[1] = ag_narrow(t, d, 0, n - s);
        t = ag__binary(op, t, ag_cat(parts, 2, d));
    }
    return t;
}
AG_API ag_tensor *ag_cumprod(ag_tensor *t, int dim) { t = ag__arg(t); return ag__scan("cumprod", t, dim, AG__OP_mul); }
/* the index of the running maximum (minimum) along dim, PyTorch's: a tie moves it to the later
   index, and a NaN stays once reached (I64 indices, like argmax) */
static bool ag__rerun_cumargmax(int op, ag_tensor *y) {
    const ag_tensor *x = y->in[0];
    int dim = (int)y->ip[0], k;
    bool mx = op == AG__OP_cumargmax;
    int64_t outer = 1, inner = 1, n = x->shape[dim], o, in, j;
    if (y->numel == 0) return true;
    for (k = 0; k < x->ndim; k++) { if (k < dim) outer *= x->shape[k]; if (k > dim) inner *= x->shape[k]; }
    for (o = 0; o < outer; o++)
        for (in = 0; in < inner; in++) {
            int64_t base = o * n * inner + in, best = 0;
            double bv = ag__load(x, ag__offset(x, base));
            for (j = 0; j < n; j++) {
                double v = ag__load(x, ag__offset(x, base + j * inner));
                if (!ag__isnan(bv) && (ag__isnan(v) || (mx ? v >= bv : v <= bv))) { bv = v; best = j; }
                ((ag__idx *)y->data)[base + j * inner] = (ag__idx)best;
            }
        }
    return true;
}
static ag_tensor *ag__cumext(const char *name, int op, ag_tensor *t, int dim, ag_tensor **indices) {
    ag_tensor *idx;
    int d;
    if (indices) *indices = NULL;
    if (!t || !ag__dim_s(t->ctx, name, t->ndim, dim, &d)) return NULL;
    if (d < 0) { if (indices) *indices = ag_zeros(t->ctx, AG__IDX, 0, NULL); return t; }
    if (!(idx = ag__result_raw(t->ctx, AG__IDX, t->ndim, t->shape, 1))) return NULL;
    idx->ip[0] = d;
    idx->in[0] = t;
    ag__rerun_cumargmax(op, idx);
    idx = ag__finish1(idx, op, t);
    if (indices) *indices = idx;
    return ag__take(AG__OP_take, t, idx, d, NULL);   /* the gradient goes to the element each value came from, as PyTorch */
}
AG_API ag_tensor *ag_cummax(ag_tensor *t, int dim, ag_tensor **indices) { t = ag__arg(t); return ag__cumext("cummax", AG__OP_cumargmax, t, dim, indices); }
AG_API ag_tensor *ag_cummin(ag_tensor *t, int dim, ag_tensor **indices) { t = ag__arg(t); return ag__cumext("cummin", AG__OP_cumargmin, t, dim, indices); }

/* ---- einsum: "ij,jk->ik", "bij,bjk->bik", "i,j->ij", "ii->", "ij->ji", "ik,jkl,il->ij" ... ----
   Letters a-z and A-Z, one per dim; "->" and the output optional (then: the letters used once,
   in alphabetical order); no "..." (an error says so). A letter repeated in one operand takes
   the diagonal; letters nothing else needs are summed away; then the operands are contracted
   left to right, each pair as one batched matmul [batch, free a, summed] @ [batch, summed, free b]. */
typedef struct { ag_tensor *t; char l[AG_MAX_DIMS + 1]; } ag__ein;   /* a tensor and its letters */
static bool ag__ein_has(const char *s, char c) { return c && strchr(s, c) != NULL; }
/* sums away the letters of e that are not in keep */
static bool ag__ein_sum_unused(ag__ein *e, const char *keep) {
    int k;
    for (k = (int)strlen(e->l) - 1; k >= 0; k--)
        if (!ag__ein_has(keep, e->l[k])) {
            if (!(e->t = ag_sum_dim(e->t, k, false))) return false;
            memmove(e->l + k, e->l + k + 1, strlen(e->l + k));
        }
    return true;
}
/* e's dims in the order of the letters in order (a permutation of e->l) */
static bool ag__ein_permute(ag__ein *e, const char *order) {
    int perm[AG_MAX_DIMS], k, n = (int)strlen(order);
    for (k = 0; k < n; k++) perm[k] = (int)(strchr(e->l, order[k]) - e->l);
    if (n > 1 && !(e->t = ag_permute(e->t, perm))) return false;
    memcpy(e->l, order, (size_t)n + 1);
    return true;
}
AG_API ag_tensor *ag_einsum(const char *spec, int n, ag_tensor *const *ops) {
    ag__ein e[AG_MAX_DIMS];
    char out[AG_MAX_DIMS + 1], need[8 * (AG_MAX_DIMS + 1) + 1];
    int64_t size[128];
    ag_ctx *ctx = NULL;
    const char *p;
    int i, k, m, nout = 0;
    for (i = 0; ops && i < n && i < AG_MAX_DIMS && !ctx; i++) if (ops[i]) ctx = ops[i]->ctx;
    if (!ctx) return NULL;
    if (!spec || n < 1 || n > AG_MAX_DIMS) { ag__fail(ctx, "einsum: need a spec and 1 to %d operands, got %d%s", AG_MAX_DIMS, n, spec ? "" : " (spec NULL)"); return NULL; }
    if (!ag__live_list("einsum", ctx, n, ops)) return NULL;
    for (i = 0; i < 128; i++) size[i] = -1;
    out[0] = 0;
    for (p = spec, i = 0; ; p++) {   /* the operands' letters */
        if (i == n) { ag__fail(ctx, "einsum: \"%s\" names more operands than the %d given", spec, n); return NULL; }
        if (!ops[i] || ops[i]->ctx != ctx) { ag__fail(ctx, "einsum: operand %d %s", i, ops[i] ? "belongs to another context" : "is NULL"); return NULL; }
        e[i].t = ops[i];
        for (m = 0; *p && *p != ',' && *p != '-'; p++) {
            if (*p == ' ') continue;
            if (*p == '.') { ag__fail(ctx, "einsum: \"...\" (broadcast dims) is not supported; name every dim with a letter"); return NULL; }
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) || m == AG_MAX_DIMS) {
                ag__fail(ctx, "einsum: \"%s\": '%c' at %d is not a letter, or operand %d has too many", spec, *p, (int)(p - spec), i);
                return NULL;
            }
            e[i].l[m++] = *p;
        }
        e[i].l[m] = 0;
        if (m != ops[i]->ndim) { char s[200]; ag__fail(ctx, "einsum: operand %d has %d letters in \"%s\" but %d dims (%s)", i, m, spec, ops[i]->ndim, AG__SHAPE(s, ops[i])); return NULL; }
        for (k = 0; k < m; k++) {
            int64_t *sz = &size[(int)e[i].l[k]];
            if (*sz >= 0 && *sz != ops[i]->shape[k]) {
                ag__fail(ctx, "einsum: letter '%c' has size %lld in one place and %lld in operand %d", e[i].l[k], (long long)*sz, (long long)ops[i]->shape[k], i);
                return NULL;
            }
            *sz = ops[i]->shape[k];
        }
        i++;
        if (*p != ',') break;
    }
    if (i != n) { ag__fail(ctx, "einsum: \"%s\" names %d operands, %d given", spec, i, n); return NULL; }
    if (*p == '-') {   /* the output */
        if (p[1] != '>') { ag__fail(ctx, "einsum: \"%s\": '-' must start \"->\"", spec); return NULL; }
        for (p += 2; *p; p++) {
            if (*p == ' ') continue;
            bool letter = ag__ein_has("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", *p);
            if (!letter || size[(int)*p] < 0 || ag__ein_has(out, *p) || nout == AG_MAX_DIMS) {
                ag__fail(ctx, "einsum: output letter '%c' of \"%s\" is %s", *p, spec, !letter ? "not a letter" : size[(int)*p] < 0 ? "in no operand" : "repeated");
                return NULL;
            }
            out[nout++] = *p; out[nout] = 0;
        }
    } else {   /* implicit: the letters used once, alphabetically */
        int c;
        out[0] = 0;
        for (c = 'A'; c <= 'z'; c++) {
            int uses = 0;
            if (size[c] < 0) continue;
            for (k = 0; k < n; k++) { const char *q; for (q = e[k].l; *q; q++) uses += *q == c; }
            if (uses == 1 && nout < AG_MAX_DIMS) { out[nout++] = (char)c; out[nout] = 0; }
        }
    }
    out[nout] = 0;
    for (i = 0; i < n; i++) {   /* a repeated letter: the diagonal (it moves to the end) */
        for (k = 0; e[i].l[k]; k++) {
            char *r = strchr(e[i].l + k + 1, e[i].l[k]);
            if (!r) continue;
            {
                int d2 = (int)(r - e[i].l), len = (int)strlen(e[i].l);
                char c = e[i].l[k];
                if (!(e[i].t = ag_diagonal(e[i].t, 0, k, d2))) return NULL;
                memmove(e[i].l + d2, e[i].l + d2 + 1, (size_t)(len - d2));
                memmove(e[i].l + k, e[i].l + k + 1, (size_t)(len - k));
                len -= 2;
                e[i].l[len] = c; e[i].l[len + 1] = 0;
                k = -1;   /* again from the start */
            }
        }
    }
    for (i = 0; i < n; i++) {   /* contract left to right */
        ag__ein *a = &e[0], *b = &e[i];
        char batch[AG_MAX_DIMS + 1], fa[AG_MAX_DIMS + 1], fb[AG_MAX_DIMS + 1], sum[AG_MAX_DIMS + 1], order[AG_MAX_DIMS + 1];
        int nb = 0, na = 0, nf = 0, ns = 0;
        int64_t B = 1, FA = 1, FB = 1, K = 1, s3[3], shp[AG_MAX_DIMS];
        strcpy(need, out);   /* what the result must keep: the output's letters and the later operands' */
        for (k = i + 1; k < n; k++) strcat(need, e[k].l);
        if (i == 0) { if (!ag__ein_sum_unused(a, need)) return NULL; continue; }
        {   /* b's own letters no one else needs */
            char keep[sizeof need + AG_MAX_DIMS + 1];
            strcpy(keep, need); strcat(keep, a->l);
            if (!ag__ein_sum_unused(b, keep)) return NULL;
            strcpy(keep, need); strcat(keep, b->l);
            if (!ag__ein_sum_unused(a, keep)) return NULL;
        }
        for (k = 0; a->l[k]; k++) {
            char c = a->l[k];
            if (ag__ein_has(b->l, c)) { if (ag__ein_has(need, c)) batch[nb++] = c; else sum[ns++] = c; }
            else fa[na++] = c;
        }
        for (k = 0; b->l[k]; k++) if (!ag__ein_has(a->l, b->l[k])) fb[nf++] = b->l[k];
        batch[nb] = fa[na] = fb[nf] = sum[ns] = 0;
        if (nb + na + nf > AG_MAX_DIMS) { ag__fail(ctx, "einsum: an intermediate of \"%s\" would have more than %d dims", spec, AG_MAX_DIMS); return NULL; }
        for (k = 0; k < nb; k++) B *= size[(int)batch[k]];
        for (k = 0; k < na; k++) FA *= size[(int)fa[k]];
        for (k = 0; k < nf; k++) FB *= size[(int)fb[k]];
        for (k = 0; k < ns; k++) K *= size[(int)sum[k]];
        strcpy(order, batch); strcat(order, fa); strcat(order, sum);
        if (!ag__ein_permute(a, order)) return NULL;
        strcpy(order, batch); strcat(order, sum); strcat(order, fb);
        if (!ag__ein_permute(b, order)) return NULL;
        s3[0] = B; s3[1] = FA; s3[2] = K;
        a->t = ag_reshape(a->t, 3, s3);
        s3[1] = K; s3[2] = FB;
        a->t = ag_matmul(a->t, ag_reshape(b->t, 3, s3));   /* [B, FA, FB] */
        strcpy(a->l, batch); strcat(a->l, fa); strcat(a->l, fb);
        for (k = 0; a->l[k]; k++) shp[k] = size[(int)a->l[k]];
        if (!(a->t = ag_reshape(a->t, (int)strlen(a->l), shp))) return NULL;
    }
    if (!ag__ein_sum_unused(&e[0], out) || !ag__ein_permute(&e[0], out)) return NULL;
    return e[0].t;
}

/* prelu(x) = relu(x) + w (x - relu(x)): slope 1 above 0, w at and below (PyTorch's) */
AG_API ag_tensor *ag_prelu(ag_tensor *x, ag_tensor *w) { ag__args(&x, &w, NULL, NULL, NULL);
    char s1[200], s2[200];
    ag_tensor *r;
    ag_ctx *ctx = ag__ctx2("prelu", x, w);
    if (!ctx) return NULL;
    if (w->ndim != 1 || (w->shape[0] != 1 && (x->ndim < 2 || w->shape[0] != x->shape[1]))) {
        ag__fail(ctx, "prelu: weight %s must be [1] or [C] with C = dim 1 of the input %s", AG__SHAPE(s1, w), AG__SHAPE(s2, x));
        return NULL;
    }
    if (w->shape[0] != 1) {   /* [C] -> [C, 1, ...] along dim 1 */
        int64_t sh[AG_MAX_DIMS];
        int i;
        sh[0] = w->shape[0];
        for (i = 2; i < x->ndim; i++) sh[i - 1] = 1;
        w = ag_reshape(w, x->ndim - 1, sh);
    }
    r = ag_relu(x);
    return ag_add(r, ag_mul(w, ag_sub(x, r)));
}

/* glu(x) = a * sigmoid(b) for x = [a, b] split in halves along dim */
AG_API ag_tensor *ag_glu(ag_tensor *x, int dim) { x = ag__arg(x);
    char s[200];
    int64_t h;
    if (!x || !ag__dim(x->ctx, "glu", x->ndim, dim, &dim)) return NULL;
    if (x->shape[dim] % 2 != 0) { ag__fail(x->ctx, "glu: dim %d of %s must have an even size", dim, AG__SHAPE(s, x)); return NULL; }
    h = x->shape[dim] / 2;
    return ag_mul(ag_narrow(x, dim, 0, h), ag_sigmoid(ag_narrow(x, dim, h, h)));
}

/* x / max(norm_p(x, dim), eps) */
AG_API ag_tensor *ag_normalize(ag_tensor *x, double p, int dim, double eps) { x = ag__arg(x);
    if (!x) return NULL;
    if (!(eps >= 0)) { ag__fail(x->ctx, "normalize: eps must be >= 0, got %g", eps); return NULL; }
    return ag_div(x, ag_clamp(ag_norm_dims(x, p, 1, &dim, true), eps, INFINITY));
}
/* sum(a b) / max(|a| |b|, eps) along dim, a and b broadcast */
AG_API ag_tensor *ag_cosine_similarity(ag_tensor *a, ag_tensor *b, int dim, double eps) { ag__args(&a, &b, NULL, NULL, NULL);
    ag_tensor *ab;
    ag_ctx *ctx = ag__ctx2("cosine_similarity", a, b);
    if (!ctx) return NULL;
    if (!(eps >= 0)) { ag__fail(ctx, "cosine_similarity: eps must be >= 0, got %g", eps); return NULL; }
    if (!(ab = ag_mul(a, b))) return NULL;   /* the broadcast shape, or a message */
    if (!ag__dim(ctx, "cosine_similarity", ab->ndim, dim, &dim)) return NULL;
    a = ag_expand(a, ab->ndim, ab->shape); b = ag_expand(b, ab->ndim, ab->shape);
    return ag_div(ag_sum_dim(ab, dim, false),
                  ag_clamp(ag_mul(ag_norm_dims(a, 2.0, 1, &dim, false), ag_norm_dims(b, 2.0, 1, &dim, false)), eps, INFINITY));
}
/* norm_p(a - b + eps) over the last dim */
AG_API ag_tensor *ag_pairwise_distance(ag_tensor *a, ag_tensor *b, double p, double eps) { ag__args(&a, &b, NULL, NULL, NULL);
    ag_tensor *d;
    int last = -1;
    ag_ctx *ctx = ag__ctx2("pairwise_distance", a, b);
    if (!ctx) return NULL;
    if (ag__isnan(eps)) { ag__fail(ctx, "pairwise_distance: eps is NaN"); return NULL; }
    if (!(d = ag_sub(a, b))) return NULL;
    if (d->ndim == 0) { ag__fail(ctx, "pairwise_distance: the inputs are 0-d; need vectors (the last dim is reduced)"); return NULL; }
    return ag_norm_dims(ag_add_scalar(d, eps), p, 1, &last, false);
}
/* x / sqrt(mean(x^2 over the last dim) + eps) * weight */
AG_API ag_tensor *ag_rms_norm(ag_tensor *x, ag_tensor *w, double eps) { ag__args(&x, &w, NULL, NULL, NULL);
    char s1[200], s2[200];
    ag_tensor *y;
    if (!x) { if (w) ag__fail(w->ctx, "rms_norm: argument 1 (input) is NULL"); return NULL; }
    if (x->ndim < 1) { ag__fail(x->ctx, "rms_norm: input must have at least 1 dim, got a 0-d tensor"); return NULL; }
    if (w && w->ctx != x->ctx) { ag__fail(x->ctx, "rms_norm: tensors belong to different contexts"); return NULL; }
    if (w && (w->ndim != 1 || w->shape[0] != x->shape[x->ndim - 1])) {
        ag__fail(x->ctx, "rms_norm: weight %s does not match input %s (expected [%lld])", AG__SHAPE(s1, w), AG__SHAPE(s2, x), (long long)x->shape[x->ndim - 1]);
        return NULL;
    }
    if (!(eps >= 0)) { ag__fail(x->ctx, "rms_norm: eps must be >= 0, got %g", eps); return NULL; }
    y = ag_mul(x, ag_rsqrt(ag_add_scalar(ag_mean_dim(ag_square(x), -1, true), eps)));
    return w ? ag_mul(y, w) : y;
}

/* ---- losses ---- */
static ag_tensor *ag__loss_reduce(ag_tensor *l, ag_reduction r) {   /* mean, sum or the elementwise loss */
    return r == AG_SUM ? ag_sum(l) : r == AG_NONE ? l : ag_mean(l);
}
/* the checks every elementwise loss makes: same context, same shape (PyTorch warns about
   broadcasting and then broadcasts; asking for the same shape catches the [N] vs [N, 1] slip),
   a known reduction */
static ag_ctx *ag__loss_args(const char *name, ag_tensor *a, ag_tensor *b, ag_reduction r, bool batchmean) {
    char s1[200], s2[200];
    ag_ctx *ctx = ag__ctx2(name, a, b);
    if (!ctx) return NULL;
    if (!ag__same_shape(a, b)) { ag__fail(ctx, "%s: input %s and target %s differ in shape", name, AG__SHAPE(s1, a), AG__SHAPE(s2, b)); return NULL; }
    if ((unsigned)r > (batchmean ? 3u : 2u)) { ag__fail(ctx, "%s: unknown reduction %d (AG_MEAN, AG_SUM, AG_NONE%s)", name, (int)r, batchmean ? ", AG_BATCHMEAN" : ""); return NULL; }
    return ctx;
}
AG_API ag_tensor *ag_mse_loss_ex(ag_tensor *a, ag_tensor *b, ag_reduction r) { ag__args(&a, &b, NULL, NULL, NULL);
    if (!ag__loss_args("mse_loss", a, b, r, false)) return NULL;
    return ag__loss_reduce(ag_square(ag_sub(a, b)), r);
}
AG_API ag_tensor *ag_l1_loss(ag_tensor *a, ag_tensor *b, ag_reduction r) { ag__args(&a, &b, NULL, NULL, NULL);
    if (!ag__loss_args("l1_loss", a, b, r, false)) return NULL;
    return ag__loss_reduce(ag_abs(ag_sub(a, b)), r);
}
/* with d = |a - b| and c = min(d, beta): c^2 / (2 beta) + relu(d - beta) (beta = 0: d) */
AG_API ag_tensor *ag_smooth_l1_loss(ag_tensor *a, ag_tensor *b, double beta, ag_reduction r) { ag__args(&a, &b, NULL, NULL, NULL);
    ag_tensor *d;
    ag_ctx *ctx = ag__loss_args("smooth_l1_loss", a, b, r, false);
    if (!ctx) return NULL;
    if (!(beta >= 0) || beta > DBL_MAX) { ag__fail(ctx, "smooth_l1_loss: beta must be finite and >= 0, got %g", beta); return NULL; }
    d = ag_abs(ag_sub(a, b));
    if (beta == 0) return ag__loss_reduce(d, r);
    return ag__loss_reduce(ag_add(ag_mul_scalar(ag_square(ag_clamp(d, 0.0, beta)), 0.5 / beta), ag_relu(ag_add_scalar(d, -beta))), r);
}
/* c^2 / 2 + delta relu(d - delta) with c = min(d, delta): delta times smooth_l1 with beta = delta */
AG_API ag_tensor *ag_huber_loss(ag_tensor *a, ag_tensor *b, double delta, ag_reduction r) { ag__args(&a, &b, NULL, NULL, NULL);
    ag_tensor *d;
    ag_ctx *ctx = ag__loss_args("huber_loss", a, b, r, false);
    if (!ctx) return NULL;
    if (!(delta > 0) || delta > DBL_MAX) { ag__fail(ctx, "huber_loss: delta must be finite and > 0, got %g", delta); return NULL; }
    d = ag_abs(ag_sub(a, b));
    return ag__loss_reduce(ag_add(ag_mul_scalar(ag_square(ag_clamp(d, 0.0, delta)), 0.5), ag_mul_scalar(ag_relu(ag_add_scalar(d, -delta)), delta)), r);
}
/* -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)) */
AG_API ag_tensor *ag_bce_loss(ag_tensor *p, ag_tensor *t, ag_reduction r) { ag__args(&p, &t, NULL, NULL, NULL);
    ag_tensor *lp, *lq;
    if (!ag__loss_args("bce_loss", p, t, r, false)) return NULL;
    lp = ag_clamp(ag_log(p), -100.0, INFINITY);
    lq = ag_clamp(ag_log(ag_rsub_scalar(p, 1.0)), -100.0, INFINITY);
    return ag__loss_reduce(ag_neg(ag_add(ag_mul(t, lp), ag_mul(ag_rsub_scalar(t, 1.0), lq))), r);
}
/* cross-entropy with PyTorch's options: loss_n = (1 - eps) w[y_n] (-log p[n, y_n]) + eps sum_c w_c (-log p[n, c]) / C,
   0 for a row whose target is ignore_index; mean divides by the sum of w[y_n] over the rows kept.
   With probability targets (ag_cross_entropy_probs): loss_n = -sum_c w_c q[n, c] log p[n, c],
   q = (1 - eps) target + eps / C; mean divides by N. */
static bool ag__ce_opts(ag_ctx *ctx, const char *name, const ag_tensor *logits, const ag_cross_entropy_opts *o, ag_tensor **w, int64_t C) {
    char s1[200], s2[200];
    *w = o ? o->weight : NULL;
    if (*w && !(*w = ag__arg(*w))) return false;
    if (o && ((unsigned)o->reduction > 2u)) { ag__fail(ctx, "%s: unknown reduction %d (AG_MEAN, AG_SUM, AG_NONE)", name, (int)o->reduction); return false; }
    if (o && !(o->label_smoothing >= 0 && o->label_smoothing <= 1)) { ag__fail(ctx, "%s: label_smoothing %g must be in [0, 1]", name, o->label_smoothing); return false; }
    if (*w && ((*w)->ctx != ctx || (*w)->ndim != 1 || (*w)->shape[0] != C)) {
        ag__fail(ctx, "%s: weight %s must be [%lld] (one per class of logits %s)%s", name, AG__SHAPE(s1, *w), (long long)C, AG__SHAPE(s2, logits),
                 (*w)->ctx != ctx ? " and of the same context" : "");
        return false;
    }
    return true;
}
AG_API ag_tensor *ag_cross_entropy_ex(ag_tensor *logits, const int32_t *targets, const ag_cross_entropy_opts *o) { logits = ag__arg(logits);
    int64_t N, C, sh[2];
    ag_tensor *w, *lp, *idx, *keep, *picked, *wy, *loss;
    ag__index r;
    double eps = o ? o->label_smoothing : 0;
    ag_reduction red = o ? o->reduction : AG_MEAN;
    if (!logits || !ag__class_targets("cross_entropy", "logits", logits, targets, &r)) return NULL;
    N = r.n; C = r.bound;
    if (!ag__ce_opts(logits->ctx, "cross_entropy", logits, o, &w, C)) return NULL;
    sh[0] = N; sh[1] = 1;
    idx = ag__result_raw(logits->ctx, AG__IDX, 2, sh, 0);
    keep = ag__result_raw(logits->ctx, logits->dtype == AG_F64 || (w && w->dtype == AG_F64) ? AG_F64 : AG_F32, 1, sh, 0);
    if (!idx || !keep) return NULL;
    r.dst = (ag__idx *)idx->data;
    r.has_ignore = true; r.ignore = o ? o->ignore_index : -100; r.keep = keep;
    if (!ag__index_take(logits->ctx, &r)) return NULL;
    if (logits->ndim == 1) { int64_t one[2]; one[0] = 1; one[1] = C; lp = ag_log_softmax(ag_reshape(logits, 2, one), -1); }
    else lp = ag_log_softmax(logits, -1);
    picked = ag_reshape(ag__take(AG__OP_take, lp, idx, 1, NULL), 1, sh);                  /* log p[n, y_n], [N] */
    wy = w ? ag_mul(keep, ag__take(AG__OP_take, w, ag_reshape(idx, 1, sh), 0, NULL)) : keep; /* w[y_n], 0 where ignored */
    loss = ag_mul_scalar(ag_mul(wy, picked), -(1.0 - eps));
    if (eps > 0) {   /* + eps sum_c w_c (-log p[n, c]) / C, kept rows only */
        ag_tensor *all = ag_sum_dim(w ? ag_mul(lp, w) : lp, 1, false);
        loss = ag_add(loss, ag_mul(keep, ag_mul_scalar(all, -eps / (double)C)));
    }
    if (red == AG_NONE) return logits->ndim == 2 ? loss : ag_reshape(loss, 0, NULL);
    if (red == AG_SUM) return ag_sum(loss);
    return ag_div(ag_sum(loss), ag_sum(wy));
}
AG_API ag_tensor *ag_cross_entropy_probs(ag_tensor *logits, ag_tensor *target, const ag_cross_entropy_opts *o) { ag__args(&logits, &target, NULL, NULL, NULL);
    char s1[200], s2[200];
    ag_tensor *w, *q, *loss;
    ag_reduction red = o ? o->reduction : AG_MEAN;
    int64_t C;
    ag_ctx *ctx = ag__ctx2("cross_entropy_probs", logits, target);
    if (!ctx) return NULL;
    if ((logits->ndim != 1 && logits->ndim != 2) || !ag__same_shape(logits, target)) {
        ag__fail(ctx, "cross_entropy_probs: logits %s must be [N, C] or [C] and the target probabilities %s the same shape", AG__SHAPE(s1, logits), AG__SHAPE(s2, target));
        return NULL;
    }
    C = logits->shape[logits->ndim - 1];
    if (!ag__ce_opts(ctx, "cross_entropy_probs", logits, o, &w, C)) return NULL;
    if (o && o->ignore_index != -100 && o->ignore_index != 0) { ag__fail(ctx, "cross_entropy_probs: ignore_index is for class targets only"); return NULL; }
    q = o && o->label_smoothing > 0 ? ag_add_scalar(ag_mul_scalar(target, 1.0 - o->label_smoothing), o->label_smoothing / (double)C) : target;
    if (w) q = ag_mul(q, w);
    loss = ag_neg(ag_sum_dim(ag_mul(q, ag_log_softmax(logits, -1)), -1, false));
    return red == AG_NONE ? loss : red == AG_SUM ? ag_sum(loss) : ag_mean(loss);
}
/* bce_with_logits with PyTorch's options: l = w ((1 - t) x + (1 + (pw - 1) t) softplus(-x)), pos_weight pw
   broadcast over the last dim (one per class), weight w broadcast; reduced */
AG_API ag_tensor *ag_bce_with_logits_ex(ag_tensor *x, ag_tensor *t, ag_tensor *weight, ag_tensor *pos_weight, ag_reduction r) {
    char s1[200], s2[200];
    ag_tensor *lw, *l;
    ag_ctx *ctx;
    ag__args(&x, &t, &weight, &pos_weight, NULL);
    if (!(ctx = ag__loss_args("bce_with_logits", x, t, r, false))) return NULL;
    if ((weight && weight->ctx != ctx) || (pos_weight && pos_weight->ctx != ctx)) { ag__fail(ctx, "bce_with_logits: tensors belong to different contexts"); return NULL; }
    if (pos_weight && (pos_weight->ndim > 1 || (x->ndim > 0 && pos_weight->numel != 1 && pos_weight->numel != x->shape[x->ndim - 1]))) {
        ag__fail(ctx, "bce_with_logits: pos_weight %s must be [1] or [C] with C the last dim of %s", AG__SHAPE(s1, pos_weight), AG__SHAPE(s2, x));
        return NULL;
    }
    lw = pos_weight ? ag_add_scalar(ag_mul(ag_add_scalar(pos_weight, -1.0), t), 1.0) : NULL;   /* 1 + (pw - 1) t */
    l = ag_neg(ag_logsigmoid(x));                                                               /* softplus(-x), stable */
    l = ag_add(ag_mul(ag_rsub_scalar(t, 1.0), x), lw ? ag_mul(lw, l) : l);
    if (weight) l = ag_mul(l, weight);
    if (l && weight && !ag__same_shape(l, x)) { ag__fail(ctx, "bce_with_logits: weight %s does not broadcast to %s", AG__SHAPE(s1, weight), AG__SHAPE(s2, x)); return NULL; }
    return ag__loss_reduce(l, r);
}
/* t (log t - x), 0 where t = 0 (log_target: exp(t) (t - x)); batchmean divides the sum by N = dim 0 */
AG_API ag_tensor *ag_kl_div(ag_tensor *x, ag_tensor *t, ag_reduction r, bool log_target) { ag__args(&x, &t, NULL, NULL, NULL);
    ag_tensor *l;
    if (!ag__loss_args("kl_div", x, t, r, true)) return NULL;
    if (log_target) l = ag_mul(ag_exp(t), ag_sub(t, x));
    else {   /* xlogy(t, t): log reads 1 where t = 0 */
        ag_tensor *safe = ag_add(t, ag_rsub_scalar(ag__unary(AG__OP_relu_mask, ag_abs(t), 0, 0), 1.0));
        l = ag_mul(t, ag_sub(ag_log(safe), x));
    }
    if (r == AG_BATCHMEAN) return ag_mul_scalar(ag_sum(l), 1.0 / (double)(x->ndim ? (x->shape[0] ? x->shape[0] : 1) : 1));
    return ag__loss_reduce(l, r);
}

/* ==== >>forward: forward mode ====
   A tensor made by ag_make_dual carries a tangent; every op whose input has one gives its
   result the tangent t_y = sum_i (d y / d x_i) t_i by its JVP rule (the second column of
   the op table), computed at once beside the value. A rule reads the op's inputs (y->in),
   parameters and output; it is evaluated with tangent propagation off (one level of
   forward mode) and is recorded like any op when grad mode is on and something requires
   grad, so a tangent can itself be differentiated in reverse mode. A NULL tangent means
   zero. The engine below converts a rule's result to y's dtype and expands it to y's shape,
   so rules for broadcasting ops may return the smaller shape. Each op's rule sits in its
   block in >>ops; the shared ones (none, same, diag) before them. */
static const char *ag__custom_name(const ag_tensor *y);
/* runs op's JVP rule for y (whose inputs are in) and attaches the tangent; false on error */
static bool ag__jvp(ag_tensor *y, int op, int nin, ag_tensor *const *in) {
    ag_ctx *ctx = y->ctx;
    ag_tensor *few[4], **t = few, *out = NULL;
    int i, rc;
    if (nin > 4 && !(t = ag__ptr_alloc(ctx, nin))) return false;
    for (i = 0; i < nin; i++) t[i] = in[i] ? in[i]->tangent : NULL;
    ctx->jvp_off++;
    rc = ag__ops[op].jvp(y, op, t, &out);
    if (rc == 0 && out) {
        out = ag_to(out, (ag_dtype)y->dtype);
        if (out && !ag__same_shape(out, y)) out = ag_expand(out, y->ndim, y->shape);
    }
    ctx->jvp_off--;
    if (rc != 0 || (!out && ag__differentiable(op))) {
        ag__fail(ctx, "forward mode: the jvp rule of '%s' failed", op == AG__OP_custom ? ag__custom_name(y) : ag__ops[op].name);
        return false;
    }
    y->tangent = out;
    return true;
}

/* a view of t that is a graph node when t requires grad: gradients flow through it to t */
static ag_tensor *ag__identity(ag_tensor *t) {
    if (t->ndim > 0) return ag_transpose(t, 0, 0);
    return ag_squeeze(ag_unsqueeze(t, 0), 0);
}

AG_API ag_tensor *ag_make_dual(ag_tensor *primal, ag_tensor *tangent) { ag__args(&primal, &tangent, NULL, NULL, NULL);
    char s1[200], s2[200];
    ag_tensor *d;
    if (!primal || !tangent) {
        if (primal || tangent) ag__fail((primal ? primal : tangent)->ctx, "make_dual: the %s is NULL", primal ? "tangent" : "primal");
        return NULL;
    }
    if (primal->ctx != tangent->ctx) { ag__fail(primal->ctx, "make_dual: the primal and the tangent belong to different contexts"); return NULL; }
    if (!ag__same_shape(primal, tangent)) {
        ag__fail(primal->ctx, "make_dual: the tangent has shape %s but the primal has shape %s", AG__SHAPE(s1, tangent), AG__SHAPE(s2, primal));
        return NULL;
    }
    if (primal->tangent || tangent->tangent) {
        ag__fail(primal->ctx, "make_dual: the %s already carries a tangent (forward mode has one level)", primal->tangent ? "primal" : "tangent");
        return NULL;
    }
    tangent = ag_to(tangent, (ag_dtype)primal->dtype);
    d = tangent ? ag__identity(primal) : NULL;
    if (d) { d->tangent = tangent; ag__mark_used(tangent); }
    return d;
}
AG_API ag_tensor *ag_tangent(const ag_tensor *t) { t = ag__arg(t); return t ? t->tangent : NULL; }

/* ==== >>backward ====
   Kahn's algorithm without recursion: pass 1 walks the graph from the root and
   counts, for each node, how many of its consumers the walk reached; pass 2
   runs a node's backward rule once all of its consumers have handed it their
   gradient. The traversal stack is heap scratch on the context, reused. */
static bool ag__stack_reserve(ag_ctx *ctx, size_t n) {
    size_t cap;
    ag_tensor **s;
    if (n <= ctx->stack_cap) return true;
    cap = ctx->stack_cap ? ctx->stack_cap * 2 : AG_STACK_INIT;
    if (cap < n) cap = n;
    s = (ag_tensor **)ag__heap_alloc(ctx, cap * sizeof(ag_tensor *));
    if (!s) { ag__fail(ctx, "backward: out of memory for a traversal stack of %zu nodes", cap); return false; }
    if (ctx->stack) { memcpy(s, ctx->stack, ctx->stack_cap * sizeof(ag_tensor *)); ag__heap_free(ctx, ctx->stack); }
    ctx->stack = s;
    ctx->stack_cap = cap;
    return true;
}

/* where ag_grad_of and checkpoint collect the gradients of chosen inputs instead of accumulating them into .grad */
typedef struct ag__grad_sink {
    int n; ag_tensor *const *inputs; ag_tensor **grads;
    bool others;                  /* other leaves accumulate as usual */
    const ag__mark *scratch;      /* ... and if one's gradient is now in the arena since this mark, */
    bool *scratch_kept;           /* this is set (checkpoint then keeps its scratch) */
    uint32_t min_seq;             /* checkpoint: nodes older than this are outside its function */
    const struct ag__grad_sink *outer;   /* the sink of the backward this one runs inside */
} ag__grad_sink;

/* where the gradient of t goes: its slot in this sink or in the sink of a backward around it */
static ag_tensor **ag__sink_slot(const ag__grad_sink *sink, const ag_tensor *t) {
    int i;
    for (; sink; sink = sink->outer)
        for (i = 0; i < sink->n; i++) if (sink->inputs[i] == t) return &sink->grads[i];
    return NULL;
}

/* adds g (of t's dtype) into the leaf t's gradient (PyTorch's AccumulateGrad); also run by ag_replay */
static bool ag__accumulate_now(ag_tensor *t, ag_tensor *g, bool create) {
    ag_ctx *ctx = t->ctx;
    ag_tensor *cur = ag_grad(t);
    if (cur && (t->flags & AG__GRAD_OWNED) && !create) {   /* in place, no allocation */
        ag__iter it;
        ag__kern k;
        ag__iter_init(&it, cur->ndim, cur->shape);
        ag__iter_add_tensor(&it, cur);
        ag__iter_add_tensor(&it, cur);
        ag__iter_add_tensor(&it, g);
        k.op = AG__OP_add; k.a = k.b = 0; k.isa = ctx->isa;
        ag__iter_run(&it, AG__ROW_FOR(&k, cur->dtype, ag__binary_row_f32, ag__binary_row_f64, 3, 7u, 0), &k);
        return true;
    }
    if (!cur && !create) {   /* first gradient: a buffer of our own (persistent for persistent tensors) */
        ag_tensor *buf;
        if (t->flags & AG__PERSISTENT) {
            buf = (ag_tensor *)t->extra;
            if (!buf) buf = ag__alloc_tensor(ctx, t->dtype, t->ndim, t->shape, 0, true, true);
            t->extra = buf;
        } else buf = ag__result_raw(ctx, t->dtype, t->ndim, t->shape, 0);   /* the copy writes every element */
        if (!buf) return false;
        ag__copy_into(buf, g);
        t->grad = buf;
        t->flags = (uint16_t)((t->flags & ~(AG__GRAD_OWNED | AG__GRAD_ARENA)) | AG__GRAD_OWNED |
                              ((t->flags & AG__PERSISTENT) ? 0 : AG__GRAD_ARENA));
        t->grad_gen = ctx->gen;
        return true;
    }
    /* create_graph, or a gradient we do not own: out of place, in the arena */
    t->grad = cur ? ag_add(cur, g) : g;
    t->flags = (uint16_t)((t->flags & ~AG__GRAD_OWNED) | AG__GRAD_ARENA);
    t->grad_gen = ctx->gen;
    return t->grad != NULL;
}
static bool ag__accumulate(ag_tensor *t, ag_tensor *g, bool create) {
    bool ok;
    if (!(g = ag_to(ag__vmap_settle(g, t, true), (ag_dtype)t->dtype))) return false;   /* .grad gets the sum over examples */
    if (AG__TAPING(t->ctx)) ag__tape(t->ctx, AG__STEP_ACC, create, t, g, 0);
    t->ctx->tape_pause++;   /* a replay decides again whether to copy or add (the gradient may have been zeroed) */
    ok = ag__accumulate_now(t, g, create);
    t->ctx->tape_pause--;
    return ok;
}

static ag_tensor *ag__run_hooks(ag_tensor *t, ag_tensor *g);
/* hands g to input u of a node, or to the caller when u is captured */
static bool ag__deliver(ag_tensor *u, ag_tensor *g, bool create, const ag__grad_sink *sink) {
    if (u->op) { u->grad = u->grad ? ag_add(u->grad, g) : g; return u->grad != NULL; }
    if (u->hooks) {   /* a hooked leaf: sum the contributions, then the hooks see the total once */
        struct ag__hook *h = u->hooks;
        h->partial = h->partial ? ag_add(h->partial, g) : g;
        if (!h->partial) return false;
        if (--u->pending > 0) return true;
        g = ag__run_hooks(u, h->partial);
        h->partial = NULL;
        if (!g) return false;
    }
    if (!sink || (sink->others && !(u->flags & AG__SINK))) {
        if (!ag__accumulate(u, g, create)) return false;
        if (sink && sink->scratch && u->grad && ag__since_mark(u->ctx, *sink->scratch, u->grad)) *sink->scratch_kept = true;
        return true;
    }
    if (u->flags & AG__SINK) {
        ag_tensor **slot = ag__sink_slot(sink, u);
        if (!(g = ag__vmap_settle(g, u, false))) return false;
        bool outer = slot && (slot < sink->grads || slot >= sink->grads + sink->n);   /* an enclosing backward's input */
        if (!slot) return true;
        *slot = *slot ? ag_add(*slot, g) : g;
        if (outer && sink->scratch && *slot && ag__since_mark(u->ctx, *sink->scratch, *slot)) *sink->scratch_kept = true;
        return *slot != NULL;
    }
    return true;   /* ag_grad_of leaves other leaves alone */
}

/* input i of node c as c saw it: a tensor rebased by an in-place op after c used it stands
   for its former self, which the in-place node keeps as input 0 */
static ag_tensor *ag__edge(const ag_tensor *c, int i) {
    ag_tensor *u = c->in[i];
    while ((u->flags & AG__REBASED) && u->seq > c->seq) u = u->in[0];
    return u;
}
/* the name an op shows (a custom op's own name) */
static const char *ag__op_name(const ag_tensor *t);
static ag_tensor *ag__run_hooks(ag_tensor *t, ag_tensor *g);
static bool ag__anomaly_check(ag_tensor *t, int i, ag_tensor *g, const char *name);
static bool ag__versions_ok(const ag_tensor *t, const char *name);

static int ag__run_backward(const char *name, ag_tensor *root, const ag_backward_opts *opts, const ag__grad_sink *sink) {
    ag_ctx *ctx = root->ctx;
    bool create = opts && opts->create_graph, retain = create || (opts && opts->retain_graph), prev;
    ag_tensor *seed = opts ? opts->grad : NULL;
    char s1[200], s2[200];
    size_t sp = 0, nodes = 1, base = ctx->stack_base;   /* this run's segment of the stack starts at base */
    uint32_t stamp;
    int rc = 0;
    /* a backward inside a backward (a checkpoint's) keeps the outer one's count and sum of each hooked leaf here */
    struct ag__hooked_state { ag_tensor *leaf, *partial; uint32_t mark; int32_t pending; struct ag__hooked_state *next; } *saved = NULL;
    const ag__grad_sink *outer_sink = ctx->sink;
#define AG__STK(i) ctx->stack[base + (i)]
    if (!(root->flags & AG__REQ_GRAD)) {
        ag__fail(ctx, "%s: the root %s does not require grad (no input that requires grad reached it, or it was made under no-grad)",
                 name, AG__SHAPE(s1, root));
        return -1;
    }
    if (seed) {
        if (seed->ctx != ctx) { ag__fail(ctx, "%s: the seed gradient belongs to another context", name); return -1; }
        if (!ag__same_shape(seed, root)) {
            ag__fail(ctx, "%s: the seed gradient has shape %s but the root has shape %s", name, AG__SHAPE(s1, seed), AG__SHAPE(s2, root));
            return -1;
        }
    } else if (root->numel != 1) {
        ag__fail(ctx, "%s: the root has shape %s; a non-scalar root needs a seed gradient of that shape (opts.grad)", name, AG__SHAPE(s1, root));
        return -1;
    }
    /* pass 1: reach every node, count its consumers, refuse released graphs; leaves with
       hooks are counted too, so that their hooks see the whole gradient once */
    stamp = ++ctx->visit;
    if (!ag__stack_reserve(ctx, base + 1)) return -1;
    if (sink && root->op && root->seq < sink->min_seq) {
        ag__fail(ctx, "%s: the function returned '%s' %s, a result computed outside it", name, ag__op_name(root), AG__SHAPE(s1, root));
        return -1;
    }
    root->mark = stamp; root->pending = root->op ? 0 : 1; root->grad = root->op ? NULL : root->grad;
    if (root->op) AG__STK(sp++) = root;
    while (sp && rc == 0) {
        ag_tensor *t = AG__STK(--sp);
        int i;
        if (t->flags & AG__RELEASED) {
            ag__fail(ctx, "%s: the graph through '%s' %s was freed by an earlier backward; pass retain_graph = true to the first backward to go through it twice",
                     name, ag__op_name(t), AG__SHAPE(s1, t));
            rc = -1;
        }
        for (i = 0; i < t->nin && rc == 0; i++) {
            ag_tensor *u = ag__edge(t, i);
            if (!(u->flags & AG__REQ_GRAD) || (!u->op && !u->hooks)) continue;
            if (u->mark == stamp) { u->pending++; continue; }
            if (sink && u->op && u->seq < sink->min_seq) {   /* walking on would clobber the outer backward's sums */
                ag__fail(ctx, "%s: the function uses '%s' %s, a result computed outside it that is not one of its inputs; pass it as an input",
                         name, ag__op_name(u), AG__SHAPE(s1, u));
                rc = -1;
                break;
            }
            if (!u->op && ctx->backward_depth > 0) {   /* nested: keep the outer backward's count and sum of this hooked leaf */
                struct ag__hooked_state *h = (struct ag__hooked_state *)ag__arena_alloc(ctx, sizeof *h, 16);
                if (!h) { rc = -1; break; }
                h->leaf = u; h->partial = u->hooks->partial; h->mark = u->mark; h->pending = u->pending;
                h->next = saved; saved = h;
            }
            u->mark = stamp; u->pending = 1;
            if (!u->op) { u->hooks->partial = NULL; continue; }   /* a hooked leaf: counted, not walked (and no sum left from a failed backward) */
            if (!ag__stack_reserve(ctx, base + sp + 1)) { rc = -1; break; }
            u->grad = NULL;
            AG__STK(sp++) = u;
            nodes++;
        }
    }
    if (rc == 0 && !ag__stack_reserve(ctx, base + nodes)) rc = -1;   /* pass 2 pushes each node at most once */
    if (rc != 0) { sp = 0; goto restore; }
    /* pass 2: run the rules in an order where every gradient is complete */
    ctx->stack_base = base + nodes;   /* a rule that runs a backward of its own (checkpoint) gets the space after ours */
    ctx->sink = sink;
    ctx->backward_depth++;
    prev = ag_set_grad_enabled(ctx, create);
    if (!seed) seed = ag_ones(ctx, (ag_dtype)root->dtype, root->ndim, root->shape);
    else seed = ag_to(seed, (ag_dtype)root->dtype);
    if (!seed) rc = -1;
    else if (!root->op) { if (!ag__deliver(root, seed, create, sink)) rc = -1; }
    else { root->grad = seed; AG__STK(sp++) = root; }
    while (sp && rc == 0) {
        ag_tensor *t = AG__STK(--sp), *g = t->grad, *few[4], **gin = few;
        int i;
        if (g && t->hooks && !(g = t->grad = ag__run_hooks(t, g))) { rc = -1; break; }
        if (sink && (t->flags & AG__SINK) && ag__sink_slot(sink, t)) *ag__sink_slot(sink, t) = g;
        if (t->nin > 4) gin = ag__ptr_alloc(ctx, t->nin);
        if (!gin) { rc = -1; break; }
        for (i = 0; i < t->nin; i++) gin[i] = NULL;
        if (g && !ag__versions_ok(t, name)) { rc = -1; break; }
        if (g && t->op->backward(t, g, gin) != 0) rc = -1;
        for (i = 0; i < t->nin && rc == 0; i++) {
            ag_tensor *u = ag__edge(t, i);
            if (!(u->flags & AG__REQ_GRAD)) continue;
            if (g && !gin[i]) { ag__fail(ctx, "%s: the backward of '%s' failed", name, ag__op_name(t)); rc = -1; break; }
            if (g && ctx->anomaly && !ag__anomaly_check(t, i, gin[i], name)) { rc = -1; break; }
            if (g && !ag__deliver(u, gin[i], create, sink)) { rc = -1; break; }
            if (u->op && --u->pending == 0) AG__STK(sp++) = u;
        }
        if (!retain) t->flags |= AG__RELEASED;
    }
#undef AG__STK
    ctx->stack_base = base;
    ctx->sink = outer_sink;
    ctx->backward_depth--;
    ag_set_grad_enabled(ctx, prev);
restore:
    for (; saved; saved = saved->next) {
        saved->leaf->hooks->partial = saved->partial; saved->leaf->mark = saved->mark; saved->leaf->pending = saved->pending;
    }
    return rc;
}

AG_API int ag_backward(ag_tensor *root, const ag_backward_opts *opts) { root = ag__arg(root);
    if (!root) return -1;
    return ag__run_backward("backward", root, opts, NULL);
}

AG_API int ag_grad_of(ag_tensor *root, const ag_backward_opts *opts, int n, ag_tensor *const *inputs, ag_tensor **grads) { root = ag__arg(root);
    ag__grad_sink sink;
    int i, rc;
    if (!root) return -1;
    if (n < 0) { ag__fail(root->ctx, "grad_of: n must be >= 0, got %d", n); return -1; }
    if (n > 0 && !inputs) { ag__fail(root->ctx, "grad_of: inputs is NULL for n = %d", n); return -1; }
    if (n > 0 && !grads) { ag__fail(root->ctx, "grad_of: grads is NULL for n = %d", n); return -1; }
    if (!ag__live_list("grad_of", root->ctx, n, inputs)) return -1;
    for (i = 0; i < n; i++) {
        if (!inputs[i]) { ag__fail(root->ctx, "grad_of: input %d is NULL", i); return -1; }
        if (inputs[i]->ctx != root->ctx) { ag__fail(root->ctx, "grad_of: input %d belongs to another context", i); return -1; }
        if (!(inputs[i]->flags & AG__REQ_GRAD)) { ag__fail(root->ctx, "grad_of: input %d does not require grad", i); return -1; }
    }
    for (i = 0; i < n; i++) { grads[i] = NULL; inputs[i]->flags |= AG__SINK; }
    sink.n = n; sink.inputs = inputs; sink.grads = grads; sink.others = false; sink.scratch = NULL; sink.scratch_kept = NULL;
    sink.min_seq = 0; sink.outer = NULL;   /* its own inputs only, even when run inside another backward */
    rc = ag__run_backward("grad_of", root, opts, &sink);
    for (i = 0; i < n; i++) inputs[i]->flags &= (uint16_t)~AG__SINK;
    for (i = 0; i < n && rc == 0; i++) {
        int j;
        for (j = 0; j < i && !grads[i]; j++) if (inputs[j] == inputs[i]) grads[i] = grads[j];   /* the same input twice: the same gradient, as PyTorch */
        if (!grads[i] && !(grads[i] = ag_zeros(root->ctx, (ag_dtype)inputs[i]->dtype, inputs[i]->ndim, inputs[i]->shape))) rc = -1;   /* not reached: zeros */
    }
    return rc;
}

/* ---- writing through views: as_strided and copy_slices (PyTorch's view regeneration and CopySlices) ----
   An in-place op on a view v of a tensor b that takes part in autograd writes the result r into
   b's storage and makes b the node copy_slices(b's former self, r): its gradient is the incoming
   one with v's region zeroed for the former self, and v's region of it for r. Views made before
   such a write (v too) then lead to b's former self; when one is used again, ag__finish gives it
   a fresh history, as_strided(b) over the same elements. Both need b dense (its storage is its
   shape), the view's elements distinct, and b not a leaf that requires grad. */
/* the tensor whose storage view v shares, following the view ops that made it (v itself if none) */
static ag_tensor *ag__view_base(ag_tensor *v) {
    ag_tensor *u;
    int depth = 0;
    while ((u = ag__view_step(v)) != NULL && depth++ < 64) v = u;
    return v;
}
/* v's elements within base b: true with *offset when b is dense and v a view into it without repeats */
static bool ag__region_of(const ag_tensor *v, const ag_tensor *b, int64_t *offset) {
    int64_t es = (int64_t)ag__esize(b->dtype), off, hi;
    int d;
    if ((v->flags & AG__VIEW) == 0 || b->flags & AG__VIEW || !ag__contig(b) || v->dtype != b->dtype) return false;
    off = (int64_t)(v->data - b->data);
    if (off < 0 || off % es) return false;
    off /= es; hi = off;
    for (d = 0; d < v->ndim; d++) {
        if (v->shape[d] > 1 && v->stride[d] <= 0) return false;   /* an expanded view, or a backwards one */
        if (v->shape[d] > 0) hi += (v->shape[d] - 1) * v->stride[d];
    }
    if (v->numel && hi >= b->numel) return false;
    *offset = off;
    return true;
}
/* the view of x's elements at offset + sum i_d stride[d] (x dense), as a node */
static ag_tensor *ag__as_strided(ag_tensor *x, int ndim, const int64_t *shape, const int64_t *stride, int64_t offset) {
    ag_tensor *y;
    if (!x) return NULL;
    if (!ag__contig(x) && !(x = ag_contiguous(x))) return NULL;
    if (!(y = ag__view_of(x, ndim, shape, stride, offset))) return NULL;
    y->ip[0] = offset;
    return ag__finish1(y, AG__OP_as_strided, x);
}
/* zeros of shape bshape (dense) with g at offset + sum i_d stride[d], as a node */
static ag_tensor *ag__as_strided_backward(ag_tensor *g, int bndim, const int64_t *bshape, const int64_t *stride, int64_t offset) {
    ag_tensor *y, *win;
    int64_t *kept;
    int d;
    if (!g) return NULL;
    if (g->vb) {   /* inside ag_vmap: every example at once, the levels in front */
        const ag__vbatch *u = g->vb;
        int64_t sh[AG_MAX_DIMS], st[AG_MAX_DIMS], per = 1;
        int k;
        if (u->n + bndim > AG_MAX_DIMS || u->n + g->ndim > AG_MAX_DIMS) { ag__fail(g->ctx, "as_strided: too many dims with the levels of ag_vmap"); return NULL; }
        for (d = 0; d < bndim; d++) { sh[u->n + d] = bshape[d]; per *= bshape[d]; }
        for (d = 0; d < g->ndim; d++) st[u->n + d] = stride[d];
        for (k = u->n - 1; k >= 0; k--) { sh[k] = u->size[k]; st[k] = per; per *= u->size[k]; }
        return ag__vmap_cover(ag__as_strided_backward(ag__vmap_expose(g, u), u->n + bndim, sh, st, offset), u);
    }
    y = ag__result(g->ctx, g->dtype, bndim, bshape, 1);
    kept = y ? (int64_t *)ag__arena_alloc(g->ctx, sizeof(int64_t) * (size_t)(g->ndim ? g->ndim : 1), 16) : NULL;
    if (!kept || !(win = ag__view_of(y, g->ndim, g->shape, stride, offset))) return NULL;
    ag__copy_into(win, g);
    for (d = 0; d < g->ndim; d++) kept[d] = stride[d];
    y->extra = kept; y->ip[0] = offset;
    return ag__finish1(y, AG__OP_as_strided_backward, g);
}
static int ag__bw_as_strided(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = zeros with d y at y's elements */
    gin[0] = ag__as_strided_backward(g, y->in[0]->ndim, y->in[0]->shape, y->stride, y->ip[0]);
    return 0;
}
static int ag__jvp_as_strided(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = the same elements of t_x */
    (void)op; *out = ag__as_strided(t[0], y->ndim, y->shape, y->stride, y->ip[0]); return 0;
}
static int ag__bw_as_strided_backward(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d g = the elements of d y where g went */
    gin[0] = ag__as_strided(g, y->in[0]->ndim, y->in[0]->shape, (const int64_t *)y->extra, y->ip[0]);
    return 0;
}
static int ag__jvp_as_strided_backward(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = zeros with t_g placed */
    (void)op; *out = ag__as_strided_backward(t[0], y->ndim, y->shape, (const int64_t *)y->extra, y->ip[0]); return 0;
}
/* 1 outside the region of copy_slices node y, 0 inside (a constant) */
static ag_tensor *ag__copy_slices_keep(ag_tensor *y) {
    const ag_tensor *r = y->in[1];
    ag_tensor *ones = ag_ones(y->ctx, (ag_dtype)y->dtype, r->ndim, r->shape);
    return ag_rsub_scalar(ag__as_strided_backward(ones, y->ndim, y->shape, (const int64_t *)y->extra, y->ip[0]), 1.0);
}
static int ag__bw_copy_slices(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d base = d y outside the region, d r = d y's region */
    const ag_tensor *r = y->in[1];
    if (AG__NEED(0)) gin[0] = ag_mul(g, ag__copy_slices_keep(y));
    if (AG__NEED(1)) gin[1] = ag__as_strided(g, r->ndim, r->shape, (const int64_t *)y->extra, y->ip[0]);
    return 0;
}
static int ag__jvp_copy_slices(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* t_y = t_base outside, t_r inside */
    (void)op;
    *out = ag__jvp_plus(t[0] ? ag_mul(t[0], ag__copy_slices_keep(y)) : NULL,
                        t[1] ? ag__as_strided_backward(t[1], y->ndim, y->shape, (const int64_t *)y->extra, y->ip[0]) : NULL);
    return 0;
}
/* view v of a tensor in the graph, made before an in-place write to its base: the same elements,
   as_strided of the base's current self (NULL after a message when that cannot be done) */
static ag_tensor *ag__view_again(ag_tensor *v, const char *name, int i) {
    ag_tensor *b = ag__view_base(v);
    int64_t off;
    char s1[200];
    if (ag__region_of(v, b, &off)) return ag__as_strided(b, v->ndim, v->shape, v->stride, off);
    ag__fail(v->ctx, "%s: input %d %s is a view made before an in-place op wrote to the tensor it views, and its elements "
             "cannot be found again (an expanded view, or a base that is not dense); make the view again after the in-place op",
             name, i, AG__SHAPE(s1, v));
    return NULL;
}

/* ==== >>inplace: in-place ops ====
   t op= x writes through t's storage (and so through every view of it) and bumps the
   storage's version. Under autograd t becomes the node of the in-place op, fed by an alias
   of its old self (as PyTorch rebases a tensor's grad_fn); a backward that would read a
   value overwritten since it was saved stops with an error naming the op and the tensor. */
/* a tensor written element by element must not have two elements in one place (an expanded view:
   stride 0 along a dim of size > 1), as PyTorch refuses: the write would land there many times */
static bool ag__writable(const char *name, ag_tensor *t) {
    int d;
    char s1[200];
    for (d = 0; d < t->ndim; d++)
        if (t->shape[d] > 1 && t->stride[d] == 0) {
            ag__fail(t->ctx, "%s: more than one element of the %s tensor refers to one memory location (an expanded view: "
                     "stride 0 along dim %d); write into a copy (ag_contiguous)", name, AG__SHAPE(s1, t), d);
            return false;
        }
    return true;
}
static bool ag__inplace_ok(const char *name, ag_tensor *t, ag_tensor *x, bool differentiable, bool *rec) {
    ag_ctx *ctx = t->ctx;
    char s1[200];
    if (x && x->ctx != ctx) { ag__fail(ctx, "%s: tensors belong to different contexts", name); return false; }
    if (!ag__writable(name, t)) return false;
    *rec = ctx->grad_enabled && ((t->flags & AG__REQ_GRAD) || (x && (x->flags & AG__REQ_GRAD)));
    if ((t->flags & AG__PERSISTENT) && (*rec || (x && x->tangent))) {
        ag__fail(ctx, "%s: the persistent %s tensor would keep a %s in the arena, which ag_ctx_reset frees: detach the other "
                 "operand (ag_detach), or update it inside ag_set_grad_enabled(ctx, false)", name, AG__SHAPE(s1, t), *rec ? "graph history" : "tangent");
        return false;
    }
    if ((t->flags & AG__VIEW) && (t->tangent || (x && x->tangent)) && (ag__view_base(t)->flags & AG__PERSISTENT)) {
        ag__fail(ctx, "%s: the persistent %s tensor under this view would keep a tangent in the arena, which ag_ctx_reset frees: "
                 "use the out-of-place op, or write through a view without a tangent", name, AG__SHAPE(s1, ag__view_base(t)));
        return false;
    }
    if (!*rec) return true;
    if (!t->op && (t->flags & AG__REQ_GRAD)) {
        ag__fail(ctx, "%s: a leaf %s tensor that requires grad cannot be modified in place while gradients are recorded "
                 "(update parameters inside ag_set_grad_enabled(ctx, false))", name, AG__SHAPE(s1, t));
        return false;
    }
    if (t->flags & AG__VIEW) {   /* written through to its base, which becomes copy_slices (PyTorch's CopySlices) */
        ag_tensor *b = ag__view_base(t);
        int64_t off;
        if (!ag__region_of(t, b, &off)) {
            ag__fail(ctx, "%s: in place on this %s view is not supported under autograd (a view without history, e.g. ag_detach's, or "
                     "of a tensor that is not dense); use the out-of-place op", name, AG__SHAPE(s1, t));
            return false;
        }
        if (!b->op && (b->flags & AG__REQ_GRAD)) {
            ag__fail(ctx, "%s: a view of a leaf %s tensor that requires grad cannot be modified in place while gradients are recorded",
                     name, AG__SHAPE(s1, b));
            return false;
        }
        if (b->flags & AG__PERSISTENT) {
            ag__fail(ctx, "%s: the persistent %s tensor would keep a graph history in the arena, which ag_ctx_reset frees: detach the "
                     "other operand (ag_detach), or update it inside ag_set_grad_enabled(ctx, false)", name, AG__SHAPE(s1, b));
            return false;
        }
    }
    if (!differentiable) { ag__fail(ctx, "%s: not differentiable in place; use it under no-grad or on a tensor that does not require grad", name); return false; }
    return true;
}
/* t's graph identity before the in-place op, as a header of its own over the same storage */
static ag_tensor *ag__alias(ag_tensor *t) {
    ag_tensor *a = (ag_tensor *)ag__arena_alloc(t->ctx, sizeof(ag_tensor), 16);
    if (!a) return NULL;
    *a = *t;
    a->tag = AG__TAG_ARENA | (t->ctx->gen & AG__TAG_GEN);   /* an arena header, even for a persistent t */
    a->hooks = NULL;
    return a;
}
/* base b of view v (r just written into v's elements, from offset off) becomes copy_slices(its
   former self, r); v and the other views made before now lead to the former self, and
   ag__finish regenerates them */
static bool ag__copy_slices(ag_tensor *b, const ag_tensor *v, ag_tensor *r, int64_t off, bool rec) {
    ag_ctx *ctx = v->ctx;
    ag_tensor *former, **in;
    int64_t *kept;
    int d;
    former = ag__alias(b);
    in = former ? ag__ptr_alloc(ctx, 2) : NULL;
    kept = in ? (int64_t *)ag__arena_alloc(ctx, sizeof(int64_t) * (size_t)(v->ndim ? v->ndim : 1), 16) : NULL;
    if (!kept) return false;
    for (d = 0; d < v->ndim; d++) kept[d] = v->stride[d];
    in[0] = former; in[1] = r;
    ag__tape_rebase(ctx, b, former);
    b->op = &ag__ops[AG__OP_copy_slices]; b->in = in; b->nin = 2;
    b->extra = kept; b->ip[0] = off; b->ip[1] = b->ip[2] = 0; b->fp[0] = b->fp[1] = 0;
    b->flags = (uint16_t)((b->flags | (rec ? AG__REQ_GRAD : 0) | AG__REBASED) & ~AG__RELEASED);   /* forward mode alone: a history for the tangents */
    b->saved_version = 0;
    b->out_version = *b->version;
    b->seq = ++ctx->seq;   /* newer than every node and view that used its former self */
    if (former->tangent || r->tangent) {   /* forward mode: the base's tangent with the region's replaced */
        ag_tensor *t[2], *o = NULL;
        t[0] = former->tangent; t[1] = r->tangent;
        if (ag__jvp_copy_slices(b, AG__OP_copy_slices, t, &o) != 0 || !o) return false;
        b->tangent = o;
    }
    return true;
}
/* writes r into t, bumps the version; under autograd t takes over r's node */
static ag_tensor *ag__inplace_done(ag_tensor *t, ag_tensor *r, bool rec) {
    char s1[200], s2[200];
    if (!r) return NULL;
    if (!ag__same_shape(r, t)) {
        ag__fail(t->ctx, "in-place: the result %s does not fit the tensor %s (the other operand may not grow it)", AG__SHAPE(s1, r), AG__SHAPE(s2, t));
        return NULL;
    }
    ag__copy_into(t, r);
    (*t->version)++;
    t->tangent = r->tangent;   /* forward mode: t's tangent is now the result's */
    if (t->flags & AG__VIEW) {   /* the base's history or tangent follows (ag__inplace_ok found the region when recording) */
        ag_tensor *b = ag__view_base(t);
        int64_t off;
        if (((rec && r->op) || r->tangent || b->tangent) && ag__region_of(t, b, &off)) return ag__copy_slices(b, t, r, off, rec) ? t : NULL;
    }
    if (rec && r->op) {
        ag__tape_rebase(t->ctx, t, r->in[0]);   /* r->in[0] is t's former self (ag__alias) */
        t->op = r->op; t->in = r->in; t->nin = r->nin;
        t->fp[0] = r->fp[0]; t->fp[1] = r->fp[1];
        t->ip[0] = r->ip[0]; t->ip[1] = r->ip[1]; t->ip[2] = r->ip[2];
        t->extra = r->extra;
        t->flags = (uint16_t)((t->flags | AG__REQ_GRAD | AG__REBASED) & ~AG__RELEASED);
        t->saved_version = r->saved_version;   /* the inputs as they were before this write */
        t->out_version = *t->version;
        t->seq = ++t->ctx->seq;   /* newer than every node that used its former self */
    }
    return t;
}
static ag_tensor *ag__inplace_binary(const char *name, int op, ag_tensor *t, ag_tensor *x) {
    bool rec;
    ag_tensor *src;
    if (!t || !x) { if (t || x) ag__fail((t ? t : x)->ctx, "%s: argument %d is NULL", name, t ? 2 : 1); return NULL; }
    if (!ag__inplace_ok(name, t, x, true, &rec)) return NULL;
    src = rec ? ag__alias(t) : t;
    if (rec && src && (op == AG__OP_mul || op == AG__OP_div) && (x->flags & AG__REQ_GRAD)) {
        /* x's gradient reads t's old value, which this op overwrites: read it from a copy (PyTorch saves the original self) */
        if (!(src = ag__copy_node(src))) return NULL;
    }
    return ag__inplace_done(t, ag__binary(op, src, ag_to(x, (ag_dtype)t->dtype)), rec);
}
AG_API ag_tensor *ag_add_(ag_tensor *t, ag_tensor *x) { ag__args(&t, &x, NULL, NULL, NULL); return ag__inplace_binary("add_", AG__OP_add, t, x); }
AG_API ag_tensor *ag_sub_(ag_tensor *t, ag_tensor *x) { ag__args(&t, &x, NULL, NULL, NULL); return ag__inplace_binary("sub_", AG__OP_sub, t, x); }
AG_API ag_tensor *ag_mul_(ag_tensor *t, ag_tensor *x) { ag__args(&t, &x, NULL, NULL, NULL); return ag__inplace_binary("mul_", AG__OP_mul, t, x); }
AG_API ag_tensor *ag_div_(ag_tensor *t, ag_tensor *x) { ag__args(&t, &x, NULL, NULL, NULL); return ag__inplace_binary("div_", AG__OP_div, t, x); }
static ag_tensor *ag__inplace_unary(const char *name, int op, ag_tensor *t, double a, double b, bool differentiable) {
    bool rec;
    ag_tensor *src;
    if (!t) return NULL;
    if (!ag__inplace_ok(name, t, NULL, differentiable, &rec)) return NULL;
    src = rec ? ag__alias(t) : t;
    return ag__inplace_done(t, ag__unary(op, src, a, b), rec);
}
AG_API ag_tensor *ag_add_scalar_(ag_tensor *t, double s) { t = ag__arg(t); return ag__inplace_unary("add_scalar_", AG__OP_add_scalar, t, s, 0, true); }
AG_API ag_tensor *ag_mul_scalar_(ag_tensor *t, double s) { t = ag__arg(t); return ag__inplace_unary("mul_scalar_", AG__OP_mul_scalar, t, s, 0, true); }
AG_API ag_tensor *ag_clamp_(ag_tensor *t, double lo, double hi) { t = ag__arg(t);
    if (t && (ag__isnan(lo) || ag__isnan(hi))) { ag__fail(t->ctx, "clamp_: the bounds must be numbers, got lo %g and hi %g", lo, hi); return NULL; }
    return ag__inplace_unary("clamp_", AG__OP_clamp, t, lo, hi, false);
}
static ag_tensor *ag__fill_(const char *name, ag_tensor *t, double v) {
    bool rec;
    ag_tensor *s;
    if (!t || !ag__inplace_ok(name, t, NULL, false, &rec)) return NULL;
    if (!(s = ag_full(t->ctx, (ag_dtype)t->dtype, 0, NULL, v))) return NULL;
    ag__copy_into(t, s);   /* a 0-d source broadcasts over t */
    (*t->version)++;
    t->tangent = NULL;     /* a constant now */
    return t;
}
AG_API ag_tensor *ag_fill_(ag_tensor *t, double v) { t = ag__arg(t); return ag__fill_("fill_", t, v); }
AG_API ag_tensor *ag_zero_(ag_tensor *t) { t = ag__arg(t); return ag__fill_("zero_", t, 0.0); }
AG_API ag_tensor *ag_relu_(ag_tensor *t) { t = ag__arg(t);   /* its node reads the output: y = relu(x) keeps the sign of x where it matters */
    bool rec, prev;
    ag_tensor *a, *r;
    if (!t) return NULL;
    if (!ag__inplace_ok("relu_", t, NULL, true, &rec)) return NULL;
    a = rec ? ag__alias(t) : t;
    prev = ag_set_grad_enabled(t->ctx, false);
    r = ag__unary(AG__OP_relu, a, 0, 0);
    ag_set_grad_enabled(t->ctx, prev);
    if (rec && r) r = ag__finish1(r, AG__OP_relu_, a);
    return ag__inplace_done(t, r, rec);
}
static int ag__bw_relu_(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* d x = d y [y > 0] */
    gin[0] = AG__RECORDING(y) ? ag_mul(g, ag__unary(AG__OP_relu_mask, y, 0, 0)) : ag__binary(AG__OP_relu_grad, g, y);
    return 0;
}
static bool ag__rerun_relu_(int op, ag_tensor *y) { (void)op; ag__unary_run(AG__OP_relu, y, y->in[0]); return true; }
AG_API ag_tensor *ag_copy_(ag_tensor *dst, ag_tensor *src) { ag__args(&dst, &src, NULL, NULL, NULL);
    bool rec;
    char s1[200], s2[200];
    int64_t shape[AG_MAX_DIMS] = {0};
    int nd;
    if (!dst || !src) { if (dst || src) ag__fail((dst ? dst : src)->ctx, "copy_: argument %d is NULL", dst ? 2 : 1); return NULL; }
    if (!ag__inplace_ok("copy_", dst, src, false, &rec)) return NULL;
    if (!ag__broadcast_shape("copy_", dst, src, &nd, shape) || nd != dst->ndim || memcmp(shape, dst->shape, sizeof(int64_t) * (size_t)nd)) {
        ag__fail(dst->ctx, "copy_: %s cannot be copied into %s", AG__SHAPE(s1, src), AG__SHAPE(s2, dst));
        return NULL;
    }
    if (src->tangent) {   /* forward mode: dst takes src's tangent */
        ag_tensor *tt = ag_to(src->tangent, (ag_dtype)dst->dtype);
        if (!(tt = tt && !ag__same_shape(tt, dst) ? ag_expand(tt, dst->ndim, dst->shape) : tt)) return NULL;
        dst->tangent = tt;
    } else dst->tangent = NULL;
    ag__copy_into(dst, src);
    (*dst->version)++;
    return dst;
}
AG_API uint32_t ag_version(const ag_tensor *t) { t = ag__arg(t); return t ? *t->version : 0; }

/* the engine's check before a rule runs */
static bool ag__versions_ok(const ag_tensor *t, const char *name) {
    uint32_t mask = ag__saves(t);
    char s1[200];
    int i;
    if (ag__saved_sum(t, mask) == t->saved_version && (!(mask & AG__SAVES_OUT) || *t->version == t->out_version)) return true;
    if ((mask & AG__SAVES_OUT) && *t->version != t->out_version) {
        ag__fail(t->ctx, "%s: the output of '%s' (%s), which its backward reads, was modified by an in-place op (now at version %u, "
                 "saved at %u); modify a copy (ag_contiguous of a clone) instead", name, ag__op_name(t), AG__SHAPE(s1, t),
                 (unsigned)*t->version, (unsigned)t->out_version);
        return false;
    }
    for (i = 0; i < t->nin && i < 31; i++)
        if ((mask & (1u << i)) && *t->in[i]->version != 0) break;
    if (i == t->nin) i = 0;
    {
        ag_tensor *u = ag__edge(t, i);
        ag__fail(t->ctx, "%s: input %d of '%s' (%s, made by %s), which its backward reads, was modified by an in-place op since it "
                 "was saved (now at version %u)", name, i, ag__op_name(t), AG__SHAPE(s1, u), u->op ? ag__op_name(u) : "a leaf",
                 (unsigned)*u->version);
    }
    return false;
}

/* ==== >>hooks: hooks, anomaly mode, custom functions, checkpointing ==== */
AG_API int ag_register_hook(ag_tensor *t, ag_tensor *(*fn)(ag_tensor *grad, void *user), void *user) {
    struct ag__hook *h, **end;
    if (!t) return -1;
    if (!fn) { ag__fail(t->ctx, "register_hook: the hook function is NULL"); return -1; }
    if (!(t->flags & AG__REQ_GRAD)) { ag__fail(t->ctx, "register_hook: the tensor does not require grad, so no gradient will reach a hook"); return -1; }
    if (t->flags & AG__PERSISTENT) {   /* lives as long as the tensor */
        if (!(h = (struct ag__hook *)ag__persist_alloc(t->ctx, sizeof *h, "register_hook"))) return -1;
    } else if (!(h = (struct ag__hook *)ag__arena_alloc(t->ctx, sizeof *h, 16))) return -1;
    h->fn = fn; h->user = user; h->next = NULL; h->partial = NULL;
    for (end = &t->hooks; *end; end = &(*end)->next) {}
    *end = h;
    return 0;
}
/* runs t's hooks in order on its complete gradient; a hook returning NULL keeps the gradient */
static ag_tensor *ag__run_hooks(ag_tensor *t, ag_tensor *g) {
    struct ag__hook *h;
    char s1[200], s2[200];
    if (!ag__not_capturing(t->ctx, "backward", "a gradient hook")) return NULL;
    for (h = t->hooks; h && g; h = h->next) {
        ag_tensor *r = h->fn(g, h->user);
        if (!r) continue;
        if (!ag__same_shape(r, t)) {
            ag__fail(t->ctx, "hook: a hook on a %s tensor returned a gradient of shape %s", AG__SHAPE(s1, t), AG__SHAPE(s2, r));
            return NULL;
        }
        g = ag_to(r, (ag_dtype)t->dtype);
    }
    return g;
}
/* a hook that clamps every element of the gradient to [-bound, bound] (*(double *)user = bound):
   per-parameter gradient clipping, ag_register_hook(W, ag_hook_clamp, &bound) */
AG_API ag_tensor *ag_hook_clamp(ag_tensor *grad, void *user) {
    double b = user ? *(const double *)user : 0;
    return ag_clamp(grad, -b, b);
}

AG_API bool ag_set_anomaly_detection(ag_ctx *ctx, bool on) { return ctx ? ag__set_flag(&ctx->anomaly, on) : false; }
/* anomaly mode: the gradient op t computed for its input i must be finite */
static bool ag__anomaly_check(ag_tensor *t, int i, ag_tensor *g, const char *name) {
    ag_tensor *d = ag__dense(g);
    int64_t k;
    char s1[200];
    if (!d) return false;
    for (k = 0; k < d->numel; k++) {
        double v = ag__load(d, k);
        if (v - v != 0) {   /* NaN or Inf */
            ag_tensor *u = ag__edge(t, i);
            ag__fail(t->ctx, "%s: anomaly: the gradient that '%s' computed for its input %d (%s, made by %s%s%s) has %s at element %lld",
                     name, ag__op_name(t), i, AG__SHAPE(s1, u), u->op ? "'" : "", u->op ? ag__op_name(u) : "a leaf", u->op ? "'" : "",
                     ag__isnan(v) ? "NaN" : "Inf", (long long)k);
            return false;
        }
    }
    return true;
}

/* ---- custom functions ---- */
struct ag_custom {
    const ag_function *fn;
    void *user;
    int n, nsaved;
    ag_tensor **inputs, **saved, *output;
};
static const char *ag__custom_name(const ag_tensor *y) { return ((const ag_custom *)y->extra)->fn->name; }
/* a custom op's backward reads what it saved (ag_save_for_backward): the inputs whose storage a
   saved tensor shares, and the output if saved; the rest may be modified in place (PyTorch too) */
static uint32_t ag__custom_saves(const ag_tensor *y) {
    const ag_custom *c = (const ag_custom *)y->extra;
    uint32_t mask = 0;
    int i, k;
    if (!c) return 0;
    for (k = 0; k < c->nsaved; k++) {
        if (!c->saved[k]) continue;
        if (c->saved[k] == y || c->saved[k]->version == y->version) mask |= AG__SAVES_OUT;
        for (i = 0; i < c->n && i < 31; i++) if (c->saved[k]->version == c->inputs[i]->version) mask |= 1u << i;
    }
    return mask;
}
static const char *ag__op_name(const ag_tensor *t) {
    if (t->op == &ag__ops[AG__OP_custom]) return ag__custom_name(t);
    return t->op->name;
}
AG_API int ag_save_for_backward(ag_custom *c, int n, ag_tensor *const *tensors) {
    int i;
    if (!c) return -1;
    if (n < 0 || (n > 0 && !tensors)) { ag__fail(c->inputs[0]->ctx, "save_for_backward: need n >= 0 tensors, got %d", n); return -1; }
    if (!ag__live_list("save_for_backward", c->inputs[0]->ctx, n, tensors)) return -1;
    c->saved = ag__ptr_alloc(c->inputs[0]->ctx, n);
    if (!c->saved) return -1;
    for (i = 0; i < n; i++) c->saved[i] = tensors[i];
    c->nsaved = n;
    return 0;
}
AG_API ag_tensor *ag_saved(const ag_custom *c, int i) { return c && i >= 0 && i < c->nsaved ? c->saved[i] : NULL; }
AG_API ag_tensor *ag_custom_input(const ag_custom *c, int i) { return c && i >= 0 && i < c->n ? c->inputs[i] : NULL; }
AG_API ag_tensor *ag_custom_output(const ag_custom *c) { return c ? c->output : NULL; }

/* the output as a node of its own: a view of what forward returned, with room for the inputs */
static ag_tensor *ag__node_over(ag_tensor *v, int n) {
    ag_tensor *y = ag__alloc_tensor(v->ctx, v->dtype, v->ndim, v->shape, n, false, false);
    int i;
    if (!y) return NULL;
    for (i = 0; i < v->ndim; i++) y->stride[i] = v->stride[i];
    y->data = v->data;
    y->vb = v->vb;   /* inside ag_vmap: the forward's ops batched it */
    return y;
}

AG_API ag_tensor *ag_apply(const ag_function *fn, int n, ag_tensor *const *inputs, void *user) {
    ag_ctx *ctx = NULL;
    ag_custom *c;
    ag_tensor *v, *y;
    bool prev;
    int i;
    if (n < 1 || !inputs || !ag__live_list("apply", NULL, n, inputs)) return NULL;
    for (i = 0; i < n && !ctx; i++) if (inputs[i]) ctx = inputs[i]->ctx;
    if (!ctx) return NULL;
    if (!fn) { ag__fail(ctx, "apply: the function is NULL"); return NULL; }
    if (!fn->name || !fn->forward || !fn->backward) { ag__fail(ctx, "apply: the function needs a name, a forward and a backward"); return NULL; }
    if (!ag__not_capturing(ctx, fn->name, "a custom op")) return NULL;
    for (i = 0; i < n; i++) {
        if (!inputs[i]) { ag__fail(ctx, "%s: input %d is NULL", fn->name, i); return NULL; }
        if (inputs[i]->ctx != ctx) { ag__fail(ctx, "%s: tensors belong to different contexts", fn->name); return NULL; }
    }
    c = (ag_custom *)ag__arena_alloc(ctx, sizeof *c, 16);
    if (!c || !(c->inputs = ag__ptr_alloc(ctx, n))) return NULL;
    c->fn = fn; c->user = user; c->n = n; c->nsaved = 0; c->saved = NULL; c->output = NULL;
    for (i = 0; i < n; i++) c->inputs[i] = inputs[i];
    prev = ag_set_grad_enabled(ctx, false);   /* forward records nothing: the node below stands for it */
    ctx->jvp_off++;                            /* and carries no tangents: the user's jvp gives the output's */
    v = fn->forward(c, c->inputs, n, user);
    ctx->jvp_off--;
    ag_set_grad_enabled(ctx, prev);
    if (!v) { ag__fail(ctx, "%s: forward returned NULL", fn->name); return NULL; }
    if (v->ctx != ctx) { ag__fail(ctx, "%s: forward returned a tensor of another context", fn->name); return NULL; }
    if (!(y = ag__node_over(v, n))) return NULL;
    c->output = y;
    y->extra = c;
    for (i = 0; i < c->nsaved; i++) if (c->saved[i] == v) c->saved[i] = y;   /* a saved output is the node (PyTorch too) */
    return ag__finish(y, AG__OP_custom, n, c->inputs);
}
static int ag__jvp_custom(ag_tensor *y, int op, ag_tensor *const *t, ag_tensor **out) {   /* the user's rule */
    ag_custom *c = (ag_custom *)y->extra;
    char s1[200], s2[200];
    (void)op;
    if (!c->fn->jvp) { ag__fail(y->ctx, "%s: a tangent reached this custom op, which has no jvp rule (ag_function.jvp)", c->fn->name); return -1; }
    if (c->fn->jvp(c, t, out, c->user) != 0) { ag__fail(y->ctx, "%s: jvp failed", c->fn->name); return -1; }
    if (!*out) *out = ag_zeros(y->ctx, (ag_dtype)y->dtype, y->ndim, y->shape);   /* none: zero */
    else if (!ag__same_shape(*out, y)) {
        ag__fail(y->ctx, "%s: jvp gave a tangent of shape %s for an output of shape %s", c->fn->name, AG__SHAPE(s1, *out), AG__SHAPE(s2, y));
        return -1;
    }
    return 0;
}
static int ag__bw_custom(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {   /* the user's rule */
    ag_custom *c = (ag_custom *)y->extra;
    char s1[200], s2[200];
    int i;
    if (c->fn->backward(c, g, gin, c->user) != 0) {
        ag__fail(y->ctx, "%s: backward failed", c->fn->name);
        return -1;
    }
    for (i = 0; i < c->n; i++) {
        ag_tensor *x = y->in[i];
        if (!AG__NEED(i)) continue;
        if (!gin[i]) gin[i] = ag_zeros(y->ctx, (ag_dtype)x->dtype, x->ndim, x->shape);   /* none: zero, as PyTorch */
        else if (!ag__same_shape(gin[i], x)) {
            ag__fail(y->ctx, "%s: backward gave a gradient of shape %s for input %d of shape %s", c->fn->name,
                     AG__SHAPE(s1, gin[i]), i, AG__SHAPE(s2, x));
            return -1;
        }
    }
    return 0;
}

/* ---- checkpointing ---- */
typedef struct { ag_fn f; void *user; } ag__ckpt;
AG_API ag_tensor *ag_checkpoint(ag_fn f, void *user, int n, ag_tensor *const *inputs) {
    ag_ctx *ctx = NULL;
    ag_tensor *v, *y;
    ag__ckpt *k;
    ag__mark m;
    bool prev;
    int i;
    if (n < 1 || !inputs || !ag__live_list("checkpoint", NULL, n, inputs)) return NULL;
    for (i = 0; i < n && !ctx; i++) if (inputs[i]) ctx = inputs[i]->ctx;
    if (!ctx) return NULL;
    if (!f) { ag__fail(ctx, "checkpoint: the function is NULL"); return NULL; }
    if (!ag__not_capturing(ctx, "checkpoint", "a checkpoint")) return NULL;
    for (i = 0; i < n; i++) {
        if (!inputs[i]) { ag__fail(ctx, "checkpoint: input %d is NULL", i); return NULL; }
        if (inputs[i]->ctx != ctx) { ag__fail(ctx, "checkpoint: input %d belongs to another context", i); return NULL; }
    }
    for (i = 0; i < n; i++)
        if (inputs[i]->vb) {   /* inside ag_vmap: f as it is, recorded (the batched gradients, not the memory saving) */
            if (!(v = f(ctx, (ag_tensor **)inputs, user))) { ag__fail(ctx, "checkpoint: the function returned NULL"); return NULL; }
            return v;
        }
    k = (ag__ckpt *)ag__arena_alloc(ctx, sizeof *k, 16);
    if (!k) return NULL;
    k->f = f; k->user = user;
    m = ag__arena_mark(ctx);
    prev = ag_set_grad_enabled(ctx, false);   /* no intermediates are kept */
    v = f(ctx, (ag_tensor **)inputs, user);
    ag_set_grad_enabled(ctx, prev);
    if (!v) { ag__fail(ctx, "checkpoint: the function returned NULL"); return NULL; }
    if (v->ctx != ctx) { ag__fail(ctx, "checkpoint: the function returned a tensor of another context"); return NULL; }
    if (!v->tangent && ag__contig(v) && v->numel > 0 && ag__since_mark(ctx, m, v->data)) {
        /* f's intermediates are not needed (backward runs f again): give their memory back and
           keep only the output, copied through a buffer of the context's */
        size_t bytes = (size_t)v->numel * ag__esize(v->dtype);
        int64_t shape[AG_MAX_DIMS];
        int nd = v->ndim, dt = v->dtype;
        if (bytes > ctx->ckpt_cap) {
            void *nb = ag__heap_alloc(ctx, bytes);
            if (!nb) { ag__fail(ctx, "checkpoint: out of memory"); return NULL; }
            if (ctx->ckpt_buf) ag__heap_free(ctx, ctx->ckpt_buf);
            ctx->ckpt_buf = nb; ctx->ckpt_cap = bytes;
        }
        memcpy(ctx->ckpt_buf, v->data, bytes);
        for (i = 0; i < nd; i++) shape[i] = v->shape[i];
        ag__arena_release(ctx, m);
        if (!(y = ag__result_raw(ctx, dt, nd, shape, n))) return NULL;
        memcpy(y->data, ctx->ckpt_buf, bytes);
    } else {
        if (!(y = ag__node_over(v, n))) return NULL;
        y->tangent = v->tangent;   /* forward mode ran inside f */
    }
    y->extra = k;
    if (!ctx->grad_enabled) return y;
    /* a node even when no input requires grad: parameters used inside f get their gradients
       when backward runs f again (as PyTorch's reentrant checkpoint) */
    y->op = &ag__ops[AG__OP_checkpoint];
    y->nin = n;
    for (i = 0; i < n; i++) { y->in[i] = inputs[i]; ag__mark_used(inputs[i]); }
    y->flags |= AG__REQ_GRAD;
    ctx->nodes++;
    ag__save_versions(y);
    return y;
}
/* runs f again with recording on and backpropagates d y through that: the inputs' gradients
   come back to the outer backward, leaves used inside f (parameters) accumulate theirs; without
   create_graph the recomputed graph's memory is given back to the arena afterwards */
static int ag__run_backward(const char *name, ag_tensor *root, const ag_backward_opts *opts, const ag__grad_sink *sink);
static int ag__bw_checkpoint(ag_tensor *y, ag_tensor *g, ag_tensor **gin) {
    ag_ctx *ctx = y->ctx;
    ag__ckpt *k = (ag__ckpt *)y->extra;
    bool create = ctx->grad_enabled, prev;
    ag_tensor *x[16], *want[16], *got[16], *out;
    ag_backward_opts o;
    ag__grad_sink sink;
    ag__mark m;
    int i, nw = 0, slot[16], rc = 0;
    bool kept = false;
    uint32_t seq0 = ctx->seq + 1;   /* what f computes now is newer than this */
    if (y->nin > 16) { ag__fail(ctx, "checkpoint: at most 16 inputs"); return -1; }
    for (i = 0; i < y->nin; i++)   /* results first, so that they outlive the scratch below */
        if (AG__NEED(i) && !create && !(gin[i] = ag__result(ctx, y->in[i]->dtype, y->in[i]->ndim, y->in[i]->shape, 0))) return -1;
    m = ag__arena_mark(ctx);
    for (i = 0; i < y->nin; i++) {
        if (!(x[i] = ag_detach(y->in[i]))) return -1;   /* fresh leaves over the same data */
        if (AG__NEED(i)) { x[i]->flags |= AG__REQ_GRAD | AG__SINK; slot[nw] = i; want[nw] = x[i]; got[nw++] = NULL; }
    }
    prev = ag_set_grad_enabled(ctx, true);
    out = k->f(ctx, x, k->user);
    ag_set_grad_enabled(ctx, prev);
    if (!out) { ag__fail(ctx, "checkpoint: the function returned NULL when recomputed"); return -1; }
    if (out->ctx != ctx) { ag__fail(ctx, "checkpoint: the function returned a tensor of another context when recomputed"); return -1; }
    if (out->flags & AG__REQ_GRAD) {
        memset(&o, 0, sizeof o);
        o.grad = g; o.create_graph = create;
        sink.n = nw; sink.inputs = want; sink.grads = got; sink.scratch = &m; sink.scratch_kept = &kept;
        sink.others = !ctx->sink || ctx->sink->others;   /* inside ag_grad_of, leaves f uses are left alone too */
        sink.min_seq = seq0; sink.outer = ctx->sink;
        rc = ag__run_backward("checkpoint", out, &o, &sink);
    }
    for (i = 0; i < nw && rc == 0; i++) {
        ag_tensor *gi = got[i];
        want[i]->flags &= (uint16_t)~AG__SINK;
        if (!gi && !(gi = ag_zeros(ctx, (ag_dtype)want[i]->dtype, want[i]->ndim, want[i]->shape))) rc = -1;
        else if (create) gin[slot[i]] = gi;
        else ag__copy_into(gin[slot[i]], gi);
    }
    if (create)   /* the recorded gradients depend on the inputs through the fresh leaves: wire each to its input
                     (an identity node), so that differentiating them again reaches the inputs */
        for (i = 0; i < nw && rc == 0; i++) {
            ag_tensor *xl = want[i];
            xl->op = &ag__ops[AG__OP_contiguous];   /* d input = d leaf */
            xl->in[0] = y->in[slot[i]];
            xl->nin = 1;
            ag__save_versions(xl);
        }
    if (!create && !kept) ag__arena_release(ctx, m);   /* kept: a tensor f used (not an input) got its gradient in there */
    return rc;
}


/* ==== >>replay: capture and replay ====
   Each op's kernel (the op table's kernel column, ag__rerun_<kernel>, in the op's block)
   recomputes its result from y->in; a replay runs the recorded steps in order. */
AG_API int ag_capture_begin(ag_ctx *ctx) {
    ag_capture *g;
    if (!ctx) return -1;
    if (ctx->capture) { ag__fail(ctx, "capture_begin: a capture is already running (end it with ag_capture_end)"); return -1; }
    g = (ag_capture *)ag__heap_alloc(ctx, sizeof *g);
    if (!g) { ag__fail(ctx, "capture_begin: out of memory"); return -1; }
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->gen = ctx->gen;
    g->failures = ctx->failures;
    ctx->capture_scratch = 0;
    g->next = ctx->captures;
    ctx->captures = g;
    ctx->capture = g;
    return 0;
}

AG_API ag_capture *ag_capture_end(ag_ctx *ctx) {
    ag_capture *g;
    if (!ctx) return NULL;
    if (!(g = ctx->capture)) { ag__fail(ctx, "capture_end: no capture is running (start one with ag_capture_begin)"); return NULL; }
    ctx->capture = NULL;
    if (g->gen != ctx->gen) { g->failed = true; ag__fail(ctx, "capture_end: ag_ctx_reset ran during the capture, which freed the step's tensors"); }
    if (ctx->failures != g->failures) g->failed = true;   /* the step itself failed: its (first) error is on the context */
    if (!g->failed && ctx->capture_scratch) {   /* the arena block a replay's scratch needs exists from now on: no replay allocates */
        ag__mark m = ag__arena_mark(ctx);
        if (!ag__arena_alloc(ctx, ctx->capture_scratch + 4096, AG__DATA_ALIGN)) g->failed = true;
        ag__arena_release(ctx, m);
    }
    if (g->failed && !ctx->err[0]) ag__fail(ctx, "capture_end: the step had an error while it was captured (reported then, and cleared since)");
    if (g->failed) { ag_capture_free(g); return NULL; }
    ag_capture_fuse(g, true);
    return g;
}

/* ---- fusion: runs of elementwise kernels, chunk by chunk (ag_capture_fuse) ----
   A step can join a run when its kernel is elementwise (ag__rerun_unary, ag__rerun_binary), its
   result and inputs are dense F32 or F64 of one dtype, and each input has the result's size or
   is a single value. Walking the run chunk by chunk is safe because every recorded result is a
   fresh buffer and every view of one is a step of its own (in-place ops record a copy into their
   target, slices a slice step), which ends the run: no kernel of a run reads a result of the run
   other than element for element. */
#define AG__FUSE_MIN 4096     /* elements: smaller runs replay step by step */
#define AG__FUSE_CHUNK 1024   /* elements a chunk: a few operands of it fit in L1 */
static int ag__fuse_nin(const ag__step *st) { return ag__ops[st->op].rerun == ag__rerun_binary ? 2 : 1; }
static bool ag__fusible(const ag__step *st, int64_t numel) {
    const ag_tensor *y = st->y;
    int i;
    if (st->kind != AG__STEP_OP || (ag__ops[st->op].rerun != ag__rerun_unary && ag__ops[st->op].rerun != ag__rerun_binary)) return false;
    if ((y->dtype != AG_F32 && y->dtype != AG_F64) || y->vb || !ag__contig(y) || y->numel != numel) return false;
    for (i = 0; i < ag__fuse_nin(st); i++) {
        const ag_tensor *x = y->in[i];
        if (!x || x->dtype != y->dtype || x->vb || !ag__contig(x) || (x->numel != numel && x->numel != 1)) return false;
    }
    return true;
}
AG_API long ag_capture_fuse(ag_capture *g, bool on) {
    ag__steps *c;
    int i, n;
    long fused = 0;
    if (!g) return -1;
    for (c = g->first; c; c = c->next)
        for (i = 0; i < c->n; i += n > 0 ? n : 1) {
            ag__step *st = &c->s[i];
            int64_t numel = st->kind == AG__STEP_OP ? st->y->numel : 0;
            st->fuse = 0;
            n = 0;
            if (!on || numel < AG__FUSE_MIN || !ag__fusible(st, numel)) continue;
            for (n = 1; i + n < c->n && ag__fusible(&st[n], numel); n++) st[n].fuse = 0;
            if (n > 1) { st->fuse = (uint16_t)n; fused += n; }
        }
    return fused;
}
typedef struct { const ag__step *st; int n; int64_t numel; } ag__fuse_job;
static void ag__fuse_task(void *arg, int c) {   /* chunk c through every step of the run, as ag__map_run's dense case */
    const ag__fuse_job *j = (const ag__fuse_job *)arg;
    int64_t lo = (int64_t)c * AG__FUSE_CHUNK, m = j->numel - lo < AG__FUSE_CHUNK ? j->numel - lo : AG__FUSE_CHUNK;
    int i;
    for (i = 0; i < j->n; i++) {
        const ag_tensor *y = j->st[i].y;
        bool binary = ag__fuse_nin(&j->st[i]) == 2;
        ag__kern k;
        ag__map_job mj;
        ag__ew_kern(&k, j->st[i].op, y, binary);
        ag__map_dense(&mj, binary ? AG__PICK(y->dtype, ag__binary_row_f32, ag__binary_row_f64) : AG__PICK(y->dtype, ag__unary_row_f32, ag__unary_row_f64),
                      &k, y, y->in[0], binary ? y->in[1] : NULL);
        ag__map_range(&mj, lo, m);
    }
}
static void ag__fused_run(ag_ctx *ctx, const ag__step *st) {
    ag__fuse_job j;
    j.st = st; j.n = st->fuse; j.numel = st->y->numel;
    ag__parallel(ctx, false, ag__fuse_task, &j, (int)((j.numel + AG__FUSE_CHUNK - 1) / AG__FUSE_CHUNK));
}

AG_API int ag_replay(ag_capture *g) {
    ag_ctx *ctx;
    ag__steps *c;
    int i;
    if (!g) return -1;
    ctx = g->ctx;
    if (ctx->capture) { ag__fail(ctx, "replay: a capture is running (end it with ag_capture_end first)"); return -1; }
    if (g->gen != ctx->gen) { ag__fail(ctx, "replay: ag_ctx_reset freed the captured step's tensors; capture the step again"); return -1; }
    for (c = g->first; c; c = c->next)
        for (i = 0; i < c->n; i++) {
            ag__step *st = &c->s[i];
            bool ok = true;
            switch (st->kind) {
            case AG__STEP_OP:
                if (st->fuse > 1) { ag__fused_run(ctx, st); i += st->fuse - 1; }
                else ok = ag__rerun(st->op, st->y);
                break;
            case AG__STEP_COPY: ag__copy_into(st->y, st->x); break;
            case AG__STEP_ACC: ok = ag__accumulate_now(st->y, st->x, st->op != 0); break;
            case AG__STEP_RAND: ag__random_fill(st->y, st->op, st->p); break;
            case AG__STEP_INDEX: if (!ag__index_read(ctx, st->index)) return -1; break;   /* its message names the op */
            default: break;
            }
            if (!ok) { ag__fail(ctx, "replay: out of memory"); return -1; }
        }
    return 0;
}

AG_API size_t ag_capture_steps(const ag_capture *g) { return g ? g->n : 0; }

AG_API void ag_capture_free(ag_capture *g) {
    ag_ctx *ctx;
    ag_capture **pp;
    ag__steps *c, *nc;
    if (!g) return;
    ctx = g->ctx;
    for (pp = &ctx->captures; *pp; pp = &(*pp)->next) if (*pp == g) { *pp = g->next; break; }
    if (ctx->capture == g) ctx->capture = NULL;
    for (c = g->first; c; c = nc) { nc = c->next; ag__heap_free(ctx, c); }
    ag__heap_free(ctx, g);
}

/* ==== >>graph: walking the graph, DOT ==== */
AG_API const char *ag_op(const ag_tensor *t) { t = ag__arg(t); return t && t->op ? ag__op_name(t) : NULL; }
AG_API int ag_num_inputs(const ag_tensor *t) { t = ag__arg(t); return t && t->op ? t->nin : 0; }
AG_API ag_tensor *ag_input(const ag_tensor *t, int i) { t = ag__arg(t);
    if (!t) return NULL;
    if (!t->op || i < 0 || i >= t->nin) {
        ag__fail(t->ctx, "input: index %d is out of range for %s with %d inputs", i, t->op ? ag__op_name(t) : "a leaf", t->op ? t->nin : 0);
        return NULL;
    }
    return ag__edge(t, i);
}

AG_API ag_tensor *ag_set_name(ag_tensor *t, const char *name) { t = ag__arg(t);
    char *copy;
    size_t n;
    if (!t) return NULL;
    if (!name) { t->name = NULL; return t; }
    n = strlen(name) < 63 ? strlen(name) : 63;
    copy = (t->flags & AG__PERSISTENT) ? (char *)ag__persist_alloc(t->ctx, n + 1, "set_name") : (char *)ag__arena_alloc(t->ctx, n + 1, 1);
    if (!copy) return NULL;
    memcpy(copy, name, n);
    copy[n] = 0;
    t->name = copy;   /* a persistent tensor's earlier name stays allocated until ag_ctx_free (a few bytes) */
    return t;
}
AG_API const char *ag_name(const ag_tensor *t) { t = ag__arg(t); return t ? t->name : NULL; }

/* where ag_print and ag_graph_dot write: the FILE, or under AG_NO_STDIO the context's ag_desc.write */
typedef struct { ag_file *f; ag_ctx *ctx; } ag__out;
#ifdef AG_NO_STDIO
static void ag__putf(const ag__out *o, const char *fmt, ...) {
    char buf[400];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = ag__vformat(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && o->ctx && o->ctx->write) o->ctx->write(o->f, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}
#else
static void ag__putf(const ag__out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(o->f, fmt, ap);
    va_end(ap);
}
#endif
static void ag__putc(const ag__out *o, char c) { ag__putf(o, "%c", c); }

/* the DOT text of t's values: "0.7071" or "[1, 2, 3]", or "min -1.2 max 3.4 mean 0.01" for many */
static void ag__dot_values(const ag__out *f, const ag_tensor *t) {
    int64_t i;
    if (t->numel == 0) { ag__putf(f, "(empty)"); return; }
    if (t->numel <= 6) {
        if (t->ndim) ag__putf(f, "[");
        for (i = 0; i < t->numel; i++) {   /* micrograd's 4 decimals, where they say something */
            double v = ag__load(t, ag__offset(t, i));
            ag__putf(f, v == 0 || (fabs(v) >= 1e-3 && fabs(v) < 1e6) ? "%s%.4f" : "%s%.4g", i ? ", " : "", v);
        }
        if (t->ndim) ag__putf(f, "]");
        return;
    }
    {
        double lo = HUGE_VAL, hi = -HUGE_VAL, sum = 0;
        for (i = 0; i < t->numel; i++) {
            double v = ag__load(t, ag__offset(t, i));
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            sum += v;
        }
        ag__putf(f, "min %.4g max %.4g mean %.4g", lo, hi, sum / (double)t->numel);
    }
}
/* a user's name inside a DOT label: the characters DOT gives a meaning there are escaped */
static void ag__dot_text(const ag__out *f, const char *s) {
    for (; *s; s++) {
        if (strchr("\"\\{}|<>", *s)) ag__putc(f, '\\');
        ag__putc(f, (unsigned char)*s < 32 ? ' ' : *s);
    }
}
/* micrograd's symbols for the arithmetic ops */
static const char *ag__dot_symbol(const ag_tensor *t) {
    const char *n = ag__op_name(t);
    return !strcmp(n, "add") ? "+" : !strcmp(n, "mul") ? "*" : !strcmp(n, "sub") ? "-" : !strcmp(n, "div") ? "/" :
           !strcmp(n, "pow") ? "**" : !strcmp(n, "neg") ? "-x" : n;
}
static void ag__dot_node(const ag__out *f, const ag_tensor *t, const ag_dot_opts *o) {
    char s[200];
    const char *kind = t->op ? ag__op_name(t) : (t->flags & AG__PERSISTENT) && (t->flags & AG__REQ_GRAD) ? "param"
                     : (t->flags & AG__REQ_GRAD) ? "leaf" : "constant";
    int id = (int)t->pending;
    ag_tensor *g = (!t->op || (t->flags & AG__RETAIN)) ? ag_grad(t) : NULL;
    if (!o->values && !o->grads && !o->op_nodes) {   /* the plain picture: op name, shape, dtype */
        ag__putf(f, "  n%d [label=\"", id);
        if (t->name) { ag__dot_text(f, t->name); ag__putf(f, ": "); }
        ag__putf(f, "%s\\n%s %s\"%s];\n", kind, ag__shape_str(s, sizeof s, t->ndim, t->shape), ag_dtype_name((ag_dtype)t->dtype),
                t->op ? "" : (t->flags & AG__REQ_GRAD) ? ", shape=ellipse, style=filled, fillcolor=\"#cfe8ff\"" : ", shape=ellipse");
        return;
    }
    /* a record: { name | data ... | grad ... } */
    ag__putf(f, "  n%d [shape=record, label=\"{ ", id);
    if (t->name) ag__dot_text(f, t->name); else ag__putf(f, "%s", o->op_nodes ? "" : kind);
    if (!o->values) ag__putf(f, " | %s", ag__shape_str(s, sizeof s, t->ndim, t->shape));
    if (o->values) { ag__putf(f, " | data "); ag__dot_values(f, t); }
    if (o->grads && g) { ag__putf(f, " | grad "); ag__dot_values(f, g); }
    ag__putf(f, " }\"%s];\n", !t->op && (t->flags & AG__REQ_GRAD) ? ", style=filled, fillcolor=\"#cfe8ff\"" : "");
    if (o->op_nodes && t->op)   /* the op that made t, as micrograd draws it */
        ag__putf(f, "  n%dop [shape=circle, label=\"%s\"];\n  n%dop -> n%d;\n", id, ag__dot_symbol(t), id, id);
}
AG_API int ag_graph_dot(const ag_tensor *root, ag_file *file) { return ag_graph_dot_ex(root, file, NULL); }
AG_API int ag_graph_dot_ex(const ag_tensor *root, ag_file *file, const ag_dot_opts *opts) { root = ag__arg(root);
    ag__out out, *f = &out;
    ag_dot_opts o;
    ag_ctx *ctx;
    uint32_t stamp;
    size_t sp = 0;
    int32_t next_id = 0;
    ag_tensor *r = (ag_tensor *)root;
    if (!root) return -1;
    ctx = root->ctx;
    if (!file) { ag__fail(ctx, "graph_dot: FILE is NULL"); return -1; }
    out.f = file; out.ctx = ctx;
    if (opts) o = *opts; else memset(&o, 0, sizeof o);
    if (!ag__stack_reserve(ctx, 1)) return -1;
    stamp = ++ctx->visit;
    ag__putf(f, "digraph autograd {\n  rankdir=%s;\n  node [shape=box, fontname=\"Helvetica\"];\n", o.op_nodes ? "LR" : "BT");
    r->mark = stamp; r->pending = next_id++;
    ag__dot_node(f, r, &o);
    ctx->stack[sp++] = r;
    while (sp) {
        ag_tensor *t = ctx->stack[--sp];
        int i;
        for (i = 0; t->op && i < t->nin; i++) {
            ag_tensor *u = ag__edge(t, i);
            if (u->mark != stamp) {
                if (!ag__stack_reserve(ctx, sp + 1)) return -1;
                u->mark = stamp; u->pending = next_id++;
                ag__dot_node(f, u, &o);
                ctx->stack[sp++] = u;
            }
            ag__putf(f, "  n%d -> n%d%s;\n", (int)u->pending, (int)t->pending, o.op_nodes ? "op" : "");
        }
    }
    ag__putf(f, "}\n");
    return 0;
}

/* ---- printing ---- */
/* PyTorch's look: 4 decimals, scientific when the magnitudes need it, columns aligned */
typedef struct { const ag__out *f; bool sci, ints, measure; int width; } ag__printer;
static void ag__print_value(ag__printer *pr, const ag_tensor *t, int64_t off) {
    char buf[64];
    double v = ag__load(t, off);
    int n = t->dtype == AG_BOOL ? ag__format(buf, sizeof buf, "%s", v != 0 ? "True" : "False")
          : AG__INT(t->dtype) ? ag__format(buf, sizeof buf, "%lld", (long long)ag__get_int(t->dtype, t->data + off * (int64_t)ag__esize(t->dtype)))
          : ag__isnan(v) || fabs(v) > DBL_MAX ? ag__format(buf, sizeof buf, "%s", ag__isnan(v) ? "nan" : v > 0 ? "inf" : "-inf")
          : pr->sci ? ag__format(buf, sizeof buf, "%.4e", v) : pr->ints ? ag__format(buf, sizeof buf, "%.0f.", v)
          : ag__format(buf, sizeof buf, "%.4f", v);   /* nan, inf, -inf as PyTorch prints them */
    if (pr->measure) { if (n > pr->width && !ag__isnan(v) && fabs(v) <= DBL_MAX) pr->width = n; }   /* the numbers set the width */
    else ag__putf(pr->f, "%*s", pr->width, buf);
}
static void ag__print_dim(ag__printer *pr, const ag_tensor *t, int d, int64_t off, int indent, bool summarize) {
    int64_t n = t->shape[d], i;
    const ag__out *f = pr->measure ? NULL : pr->f;
    bool last = d == t->ndim - 1;
    if (f) ag__putc(f, '[');
    for (i = 0; i < n; i++) {
        if (summarize && n > 6 && i == 3) {
            if (f) ag__putf(f, last ? " ...," : "%*s...,\n", indent + 1, "");
            i = n - 3;
        }
        if (last) { if (f && i) ag__putc(f, ' '); ag__print_value(pr, t, off + i * t->stride[d]); }
        else {
            if (f && i) ag__putf(f, "%*s", indent + 1, "");
            ag__print_dim(pr, t, d + 1, off + i * t->stride[d], indent + 1, summarize);
        }
        if (f && i < n - 1) ag__putf(f, last ? "," : ",\n");
    }
    if (f) ag__putc(f, ']');
}
/* the largest and smallest non-zero magnitudes decide between fixed and scientific notation */
static void ag__magnitudes(const ag_tensor *t, int d, int64_t off, double *hi, double *lo, bool *ints) {
    int64_t i;
    for (i = 0; i < t->shape[d]; i++) {
        if (d < t->ndim - 1) ag__magnitudes(t, d + 1, off + i * t->stride[d], hi, lo, ints);
        else {
            double a = fabs(ag__load(t, off + i * t->stride[d]));
            if (a != a || a == HUGE_VAL) continue;
            if (a != floor(a)) *ints = false;
            if (a > *hi) *hi = a;
            if (a != 0 && a < *lo) *lo = a;
        }
    }
}
AG_API void ag_print(const ag_tensor *t, ag_file *file) { t = ag__arg(t);
    char s[200];
    ag__printer pr;
    ag__out out, *f = &out;
    double hi = 0, lo = HUGE_VAL;
    if (!file) return;
    out.f = file; out.ctx = t ? t->ctx : NULL;
    if (!t) { ag__putf(f, "tensor(NULL)\n"); return; }
    pr.f = f; pr.width = 0; pr.ints = t->ndim > 0;
    if (t->ndim > 0 && t->numel > 0) ag__magnitudes(t, 0, 0, &hi, &lo, &pr.ints);
    pr.sci = !pr.ints && !AG__INT(t->dtype) && (hi > 1e8 || (lo != HUGE_VAL && hi / lo > 1000));
    ag__putf(f, "tensor(");
    if (t->ndim == 0) { pr.measure = false; ag__print_value(&pr, t, 0); }
    else if (t->numel == 0) ag__putf(f, "[]");
    else {
        bool summarize = t->numel > 1000;
        pr.measure = true;  ag__print_dim(&pr, t, 0, 0, 7, summarize);
        pr.measure = false; ag__print_dim(&pr, t, 0, 0, 7, summarize);
    }
    ag__putf(f, ", shape=%s, dtype=%s", AG__SHAPE(s, t), ag_dtype_name((ag_dtype)t->dtype));
    if (t->op) ag__putf(f, ", op=%s", t->op->name);
    else if (t->flags & AG__REQ_GRAD) ag__putf(f, ", requires_grad");
    ag__putf(f, ")\n");
}

/* ==== >>gradcheck: gradient checking ==== */
typedef struct { ag_fn f; void *user; int n; ag_tensor **v; ag_tensor *w; } ag__gradgrad;

/* sum_i <d(out . w)/d input_i, v_i>: its gradient is the Hessian-vector product the second-order check needs */
static ag_tensor *ag__gradgrad_fn(ag_ctx *ctx, ag_tensor **inputs, void *user) {
    ag__gradgrad *gg = (ag__gradgrad *)user;
    ag_tensor *out = gg->f(ctx, inputs, gg->user), *grads[16], *h = NULL;
    ag_backward_opts o;
    int i;
    if (!out) return NULL;
    memset(&o, 0, sizeof o);
    o.grad = gg->w; o.create_graph = true;
    if (ag_grad_of(out, &o, gg->n, inputs, grads) != 0) return NULL;
    for (i = 0; i < gg->n; i++) {
        ag_tensor *term = ag_sum(ag_mul(grads[i], gg->v[i]));
        h = h ? ag_add(h, term) : term;
    }
    return h;
}

/* out . w in double */
static bool ag__weighted_sum(ag_tensor *out, const double *w, double *res) {
    ag_ctx *ctx = out->ctx;
    ag__mark m = ag__arena_mark(ctx);
    double *v = (double *)ag__arena_alloc(ctx, sizeof(double) * (size_t)(out->numel ? out->numel : 1), 16), s = 0;
    int64_t i;
    if (!v) return false;
    ag_copy_out(out, AG_F64, v);
    for (i = 0; i < out->numel; i++) s += v[i] * w[i];
    ag__arena_release(ctx, m);
    *res = s;
    return true;
}

static double ag__hash_weight(uint64_t i) {   /* fixed pseudo-random weights in [-1, 1), away from 0 */
    uint64_t s = i * 0x9E3779B97F4A7C15ull + 12345u;
    double u = (double)(ag__splitmix(&s) >> 11) * (1.0 / 9007199254740992.0);
    return u < 0.5 ? -1.0 + u : u;
}

static int ag__check_once(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor **inputs, double eps, double atol, double rtol,
                          ag_gradcheck_result *res, int order, ag_tensor **w_out) {
    ag_tensor *out, *wt, *grads[16];
    ag_backward_opts o;
    double *w, *ana;
    int i, passed = 1;
    int64_t j, k;
    out = f(ctx, inputs, user);
    if (!out) { ag__fail(ctx, "gradcheck: the function returned NULL"); return -1; }
    wt = ag_new(ctx, AG_F64, out->ndim, out->shape);
    if (!wt) return -1;
    w = (double *)wt->data;
    for (k = 0; k < out->numel; k++) w[k] = ag__hash_weight((uint64_t)k + (uint64_t)order * 7919u);
    if (w_out) *w_out = wt;
    memset(&o, 0, sizeof o);
    o.grad = wt;
    if (!(out->flags & AG__REQ_GRAD)) {   /* the output does not depend on the inputs: analytic gradients are zero */
        for (i = 0; i < n; i++) if (!(grads[i] = ag_zeros(ctx, AG_F64, inputs[i]->ndim, inputs[i]->shape))) return -1;
    } else if (ag_grad_of(out, &o, n, inputs, grads) != 0) return -1;
    for (i = 0; i < n; i++) {
        ag_tensor *x = inputs[i];
        ana = (double *)ag__arena_alloc(ctx, sizeof(double) * (size_t)(x->numel ? x->numel : 1), 16);
        if (!ana || ag_copy_out(grads[i], AG_F64, ana) != 0) return -1;
        for (j = 0; j < x->numel; j++) {
            double *p = (double *)x->data + ag__offset(x, j), orig, lp, lm, num, err, rel;
            ag__mark m;
            orig = *p;
            m = ag__arena_mark(ctx);
            *p = orig + eps; out = f(ctx, inputs, user);
            if (!out || !ag__weighted_sum(out, w, &lp)) { *p = orig; ag__fail(ctx, "gradcheck: the function returned NULL"); return -1; }
            ag__arena_release(ctx, m);
            *p = orig - eps; out = f(ctx, inputs, user);
            if (!out || !ag__weighted_sum(out, w, &lm)) { *p = orig; ag__fail(ctx, "gradcheck: the function returned NULL"); return -1; }
            ag__arena_release(ctx, m);
            *p = orig;
            num = (lp - lm) / (2 * eps);
            err = fabs(ana[j] - num);
            rel = err / (fabs(num) > 1 ? fabs(num) : 1);
            if (err > atol + rtol * fabs(num)) passed = 0;
            if (err > res->max_abs_err || res->worst_input < 0) {
                res->max_abs_err = err; res->worst_input = i; res->worst_index = j;
                res->analytic = ana[j]; res->numeric = num; res->order = order;
            }
            if (rel > res->max_rel_err) res->max_rel_err = rel;
        }
    }
    return passed;
}

AG_API int ag_gradcheck(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor **inputs, const ag_gradcheck_opts *opts, ag_gradcheck_result *result) {
    ag_gradcheck_result r;
    double eps = 1e-6, atol = 1e-5, rtol = 1e-3;
    bool prev;
    int i, d, rc;
    ag_tensor *w = NULL;
    if (!ctx || !ag__not_capturing(ctx, "gradcheck", "a gradient check")) return -1;
    if (!f) { ag__fail(ctx, "gradcheck: the function is NULL"); return -1; }
    if (n < 1 || n > 16 || !inputs) { ag__fail(ctx, "gradcheck: need 1 to 16 inputs, got %d", n); return -1; }
    if (!ag__live_list("gradcheck", ctx, n, inputs)) return -1;
    for (i = 0; i < n; i++) {
        if (!inputs[i]) { ag__fail(ctx, "gradcheck: input %d is NULL", i); return -1; }
        if (inputs[i]->ctx != ctx) { ag__fail(ctx, "gradcheck: input %d belongs to another context", i); return -1; }
        if (inputs[i]->dtype != AG_F64) { ag__fail(ctx, "gradcheck: input %d is float32; finite differences need float64 inputs (use ag_to)", i); return -1; }
        if (!(inputs[i]->flags & AG__REQ_GRAD)) { ag__fail(ctx, "gradcheck: input %d does not require grad", i); return -1; }
        for (d = 0; d < inputs[i]->ndim; d++)
            if (inputs[i]->stride[d] == 0 && inputs[i]->shape[d] > 1) { ag__fail(ctx, "gradcheck: input %d is an expanded view (stride 0)", i); return -1; }
    }
    if (opts) {
        if (opts->eps > 0) eps = opts->eps;
        if (opts->atol > 0) atol = opts->atol;
        if (opts->rtol > 0) rtol = opts->rtol;
    }
    memset(&r, 0, sizeof r);
    r.worst_input = -1;
    prev = ag_set_grad_enabled(ctx, true);
    rc = ag__check_once(ctx, f, user, n, inputs, eps, atol, rtol, &r, 1, &w);
    if (rc >= 0 && opts && opts->second_order) {
        ag__gradgrad gg;
        ag_tensor *v[16];
        int rc2 = 1;
        gg.f = f; gg.user = user; gg.n = n; gg.v = v; gg.w = w;
        for (i = 0; i < n && rc2 >= 0; i++) {
            int64_t j;
            v[i] = ag_new(ctx, AG_F64, inputs[i]->ndim, inputs[i]->shape);
            if (!v[i]) rc2 = -1;
            else for (j = 0; j < v[i]->numel; j++) ((double *)v[i]->data)[j] = ag__hash_weight((uint64_t)(j * 31 + i) + 99991u);
        }
        if (rc2 >= 0) rc2 = ag__check_once(ctx, ag__gradgrad_fn, &gg, n, inputs, eps, atol, rtol, &r, 2, NULL);
        rc = rc2 < 0 ? -1 : (rc && rc2);
    }
    ag_set_grad_enabled(ctx, prev);
    if (result) *result = r;
    return rc;
}



/* ==== >>optim: optimizers ==== */
enum { AG__OPT_SGD, AG__OPT_ADAM, AG__OPT_ADAMW };
typedef struct {
    ag_tensor *p;
    ag_tensor *s[3];          /* SGD: momentum buffer; Adam: exp_avg, exp_avg_sq, max_exp_avg_sq */
    int64_t step;
    bool has_buf;             /* SGD: the momentum buffer has been set (PyTorch's "buf is None") */
} ag__optslot;
struct ag_optim {
    ag_ctx *ctx;
    int kind, n;
    ag_sgd_opts sgd;
    ag_adam_opts adam;
    ag__optslot *slot;
    uint64_t amp_id, amp_gen; /* the grad scaler (its id) and its update count when amp_stage was set */
    int amp_stage;            /* AG__AMP_*: what that scaler did to this optimizer since its last update */
    bool amp_inf;             /* its unscale found an inf or NaN */
};

AG_API ag_sgd_opts ag_sgd_defaults(void) {
    ag_sgd_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-3;
    return o;
}
AG_API ag_adam_opts ag_adam_defaults(void) {
    ag_adam_opts o;
    memset(&o, 0, sizeof o);
    o.lr = 1e-3; o.beta1 = 0.9; o.beta2 = 0.999; o.eps = 1e-8;
    return o;
}
AG_API ag_adam_opts ag_adamw_defaults(void) {
    ag_adam_opts o = ag_adam_defaults();
    o.weight_decay = 1e-2;
    return o;
}

static bool ag__finite_nonneg(double v) { return v >= 0 && v <= DBL_MAX; }

static ag_optim *ag__optim_new(ag_ctx *ctx, const char *name, int kind, ag_tensor *const *params, int n, int nstate) {
    int i, j, k;
    size_t bytes;
    ag_optim *opt;
    if (!ctx) return NULL;
    if (n <= 0 || !params) { ag__fail(ctx, "%s: empty parameter list (n = %d)", name, n); return NULL; }
    if (!ag__live_list(name, ctx, n, params)) return NULL;
    for (i = 0; i < n; i++) {
        ag_tensor *p = params[i];
        if (!p) { ag__fail(ctx, "%s: parameter %d is NULL", name, i); return NULL; }
        if (p->ctx != ctx) { ag__fail(ctx, "%s: parameter %d belongs to another context", name, i); return NULL; }
        if (p->op) { ag__fail(ctx, "%s: parameter %d is not a leaf (made by '%s')", name, i, p->op->name); return NULL; }
        if (!(p->flags & AG__REQ_GRAD)) { ag__fail(ctx, "%s: parameter %d does not require grad", name, i); return NULL; }
        if (!(p->flags & AG__PERSISTENT)) {
            ag__fail(ctx, "%s: parameter %d is an arena tensor, which ag_ctx_reset frees: make parameters with ag_param", name, i);
            return NULL;
        }
        if (!ag__contig(p)) { ag__fail(ctx, "%s: parameter %d is not contiguous", name, i); return NULL; }
        for (j = 0; j < i; j++)
            if (params[j] == p) { ag__fail(ctx, "%s: parameter %d appears twice (also at %d)", name, i, j); return NULL; }
    }
    bytes = ag__align_up(sizeof(ag_optim), 16) + (size_t)n * sizeof(ag__optslot);
    if (!(opt = (ag_optim *)ag__persist_alloc(ctx, bytes, name))) return NULL;   /* zeroed, freed by ag_ctx_free */
    opt->ctx = ctx;
    opt->kind = kind;
    opt->n = n;
    opt->slot = (ag__optslot *)(void *)((char *)opt + ag__align_up(sizeof(ag_optim), 16));
    for (i = 0; i < n; i++) {
        ag_tensor *p = params[i];
        opt->slot[i].p = p;
        for (k = 0; k < nstate; k++) {
            opt->slot[i].s[k] = ag_persistent(ctx, (ag_dtype)p->dtype, p->ndim, p->shape, NULL);
            if (!opt->slot[i].s[k]) return NULL;
        }
    }
    for (i = 0; i < n; i++) params[i]->users++;   /* ag_free_persistent refuses them while the optimizer lives */
    return opt;
}

AG_API ag_optim *ag_sgd_new(ag_ctx *ctx, ag_tensor *const *params, int n, const ag_sgd_opts *opts) {
    ag_sgd_opts o = opts ? *opts : ag_sgd_defaults();
    ag_optim *opt;
    if (!ctx) return NULL;
    if (!ag__finite_nonneg(o.lr) || !ag__finite_nonneg(o.momentum) || !ag__finite_nonneg(o.weight_decay) ||
        !(o.dampening == o.dampening) || o.dampening < -DBL_MAX || o.dampening > DBL_MAX) {
        ag__fail(ctx, "sgd: lr %g, momentum %g, weight_decay %g must be finite and >= 0 (dampening %g finite)",
                 o.lr, o.momentum, o.weight_decay, o.dampening);
        return NULL;
    }
    if (o.lr == 0) {
        ag__fail(ctx, "sgd: lr is 0 (a zero-filled ag_sgd_opts?): start from ag_sgd_defaults() and set what you change");
        return NULL;
    }
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0)) {
        ag__fail(ctx, "sgd: nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)", o.momentum, o.dampening);
        return NULL;
    }
    opt = ag__optim_new(ctx, "sgd", AG__OPT_SGD, params, n, o.momentum != 0 ? 1 : 0);
    if (opt) opt->sgd = o;
    return opt;
}

static ag_optim *ag__adam_new(ag_ctx *ctx, const char *name, int kind, ag_tensor *const *params, int n, const ag_adam_opts *opts) {
    ag_adam_opts o = opts ? *opts : (kind == AG__OPT_ADAMW ? ag_adamw_defaults() : ag_adam_defaults());
    ag_optim *opt;
    if (!ctx) return NULL;
    if (!ag__finite_nonneg(o.lr) || !ag__finite_nonneg(o.eps) || !ag__finite_nonneg(o.weight_decay)) {
        ag__fail(ctx, "%s: lr %g, eps %g, weight_decay %g must be finite and >= 0", name, o.lr, o.eps, o.weight_decay);
        return NULL;
    }
    if (o.lr == 0) {
        ag__fail(ctx, "%s: lr is 0 (a zero-filled ag_adam_opts?): start from ag_%s_defaults() and set what you change", name, name);
        return NULL;
    }
    if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1)) {
        ag__fail(ctx, "%s: betas (%g, %g) must be in [0, 1)", name, o.beta1, o.beta2);
        return NULL;
    }
    opt = ag__optim_new(ctx, name, kind, params, n, o.amsgrad ? 3 : 2);
    if (opt) opt->adam = o;
    return opt;
}
AG_API ag_optim *ag_adam_new(ag_ctx *ctx, ag_tensor *const *params, int n, const ag_adam_opts *opts) {
    return ag__adam_new(ctx, "adam", AG__OPT_ADAM, params, n, opts);
}
AG_API ag_optim *ag_adamw_new(ag_ctx *ctx, ag_tensor *const *params, int n, const ag_adam_opts *opts) {
    return ag__adam_new(ctx, "adamw", AG__OPT_ADAMW, params, n, opts);
}

/* ---- update kernels over contiguous data ----
   Every operation is done in the parameter's type and rounds where PyTorch's in-place
   ops round, so F32 follows PyTorch's float arithmetic op by op. Options are folded
   into constants (sign -1 for maximize; L2 weight decay 0 for AdamW; decay 1 - lr wd
   for AdamW, 1 for Adam) so the loops have no branches and the SIMD versions give
   the same bits as the scalar ones. */
#ifndef AG__RESTRICT
#if defined(__cplusplus) || !defined(__STDC_VERSION__) || __STDC_VERSION__ < 199901L
#define AG__RESTRICT __restrict
#else
#define AG__RESTRICT restrict
#endif
#endif
typedef struct {
    double sign, lr, wd;                     /* both: maximize sign, lr, L2 weight decay */
    double momentum, damp1;                  /* SGD: momentum, 1 - dampening */
    double decay, beta1, beta2, eps, bc2s, step_size;   /* Adam: decoupled decay, sqrt(1 - b2^t), lr / (1 - b1^t) */
    bool nesterov, first;
} ag__upd;

/* Written once against >>simd for every set, the scalar one too: ag__sgd_<t>_<set>, ag__adam_<t>_<set>.
   From element i on, whole vectors; each returns where it stopped, and the scalar set (one lane)
   finishes the tail. Every set does the same operations in the same order, with no contraction
   into FMAs (AG__EXACT), so every set gives the bits of the scalar one.
   SGD: d = sign g + wd p; b = momentum b + (1 - dampening) d (b = d the first time);
        d = nesterov ? d + momentum b : b; p += -lr d.
   Adam: d = sign g; p *= decay; d += wd p; m = b1 m + (1-b1) d; v = b2 v + (1-b2) d d;
        vmax = max(vmax, v) (amsgrad); p += -step_size m / (sqrt(v or vmax) / sqrt(bc2) + eps) */
#define AG__DEF_OPTIM(P, T, V, W, SET, TGT) \
TGT AG__EXACT static int64_t ag__sgd_##SET(int64_t i, int64_t n, T *AG__RESTRICT p, T *AG__RESTRICT buf, const T *AG__RESTRICT g, \
                                           const ag__upd *u) { \
    const V sign = P##set((T)u->sign), wd = P##set((T)u->wd), mom = P##set((T)u->momentum); \
    const V damp1 = P##set((T)u->damp1), nlr = P##set((T)-u->lr); \
    for (; i + (W) <= n; i += (W)) { \
        V pp = P##loadu(p + i), d = P##add(P##mul(P##loadu(g + i), sign), P##mul(wd, pp)); \
        if (buf) { \
            V b = u->first ? d : P##add(P##mul(P##loadu(buf + i), mom), P##mul(damp1, d)); \
            P##storeu(buf + i, b); \
            d = u->nesterov ? P##add(d, P##mul(mom, b)) : b; \
        } \
        P##storeu(p + i, P##add(pp, P##mul(nlr, d))); \
    } \
    return i; \
} \
TGT AG__EXACT static int64_t ag__adam_##SET(int64_t i, int64_t n, T *AG__RESTRICT p, T *AG__RESTRICT m, T *AG__RESTRICT v, \
                                            T *AG__RESTRICT vmax, const T *AG__RESTRICT g, const ag__upd *u) { \
    const V sign = P##set((T)u->sign), wd = P##set((T)u->wd), decay = P##set((T)u->decay); \
    const V b1 = P##set((T)u->beta1), b1c = P##set((T)(1 - u->beta1)), b2 = P##set((T)u->beta2), b2c = P##set((T)(1 - u->beta2)); \
    const V bc2s = P##set((T)u->bc2s), eps = P##set((T)u->eps), nstep = P##set((T)-u->step_size); \
    for (; i + (W) <= n; i += (W)) { \
        V d = P##mul(P##loadu(g + i), sign), pp = P##mul(P##loadu(p + i), decay), mm, vv, den; \
        d = P##add(d, P##mul(wd, pp)); \
        mm = P##add(P##mul(P##loadu(m + i), b1), P##mul(b1c, d)); \
        vv = P##add(P##mul(P##loadu(v + i), b2), P##mul(P##mul(b2c, d), d)); \
        P##storeu(m + i, mm); P##storeu(v + i, vv); \
        den = vv; \
        if (vmax) { den = P##max(vv, P##loadu(vmax + i)); P##storeu(vmax + i, den); }   /* v > vmax ? v : vmax */ \
        den = P##add(P##div(P##sqrt(den), bc2s), eps); \
        P##storeu(p + i, P##add(pp, P##mul(nstep, P##div(mm, den)))); \
    } \
    return i; \
}
AG__DEF_OPTIM(ag__sf_, float, float, 1, f32_scalar, )
AG__F64(AG__DEF_OPTIM(ag__sd_, double, double, 1, f64_scalar, ))
AG__SIMD_SETS(AG__DEF_OPTIM)

/* runs update kernel K (sgd, adam) for type t on this context's set, then the scalar set on the tail;
   ARGS is the kernel's argument list, starting with i_ */
#define AG__RUN_UPDATE(isa, K, t, ARGS) do { \
    int64_t i_ = 0; \
    switch (isa) { \
    AG__IF_X86(case AG__ISA_AVX512: i_ = ag__##K##_##t##_avx512 ARGS; break;) \
    AG__IF_X86(case AG__ISA_AVX2: i_ = ag__##K##_##t##_avx2 ARGS; break;) \
    AG__IF_NEON(case AG__ISA_NEON: i_ = ag__##K##_##t##_neon ARGS; break;) \
    AG__IF_WASM(case AG__ISA_SIMD128: i_ = ag__##K##_##t##_simd128 ARGS; break;) \
    default: break; \
    } \
    ag__##K##_##t##_scalar ARGS; \
} while (0)
/* One parameter's update, in chunks of AG__UPD_CHUNK elements that the pool shares out (the
   update is elementwise: the same bits however it is split). s: SGD's momentum buffer, or
   Adam's m, v and vmax (NULL where absent). */
#define AG__UPD_CHUNK 16384
typedef struct { ag_ctx *ctx; ag_tensor *p, *g; ag_tensor *const *s; const ag__upd *u; bool adam; } ag__upd_job;
#define AG__UPD_PTR(T, t, off) ((t) ? (T *)(void *)(t)->data + (off) : NULL)
#define AG__UPD_CHUNK_RUN(T, t) { \
    T *pd = AG__UPD_PTR(T, j->p, off), *s0 = AG__UPD_PTR(T, j->s[0], off), *v = AG__UPD_PTR(T, j->s[1], off); \
    T *vmax = AG__UPD_PTR(T, j->s[2], off); \
    const T *gd = AG__UPD_PTR(T, j->g, off); \
    if (j->adam) AG__RUN_UPDATE(j->ctx->isa, adam, t, (i_, n, pd, s0, v, vmax, gd, u)); \
    else { (void)v; (void)vmax; AG__RUN_UPDATE(j->ctx->isa, sgd, t, (i_, n, pd, s0, gd, u)); } \
}
static void ag__upd_task(void *arg, int chunk) {
    const ag__upd_job *j = (const ag__upd_job *)arg;
    const ag__upd *u = j->u;
    int64_t off = (int64_t)chunk * AG__UPD_CHUNK, n = j->p->numel - off < AG__UPD_CHUNK ? j->p->numel - off : AG__UPD_CHUNK;
    if (j->p->dtype == AG_F32) AG__UPD_CHUNK_RUN(float, f32)
    AG__F64(else AG__UPD_CHUNK_RUN(double, f64))
}
static void ag__update(ag_ctx *ctx, ag_tensor *p, ag_tensor *const *s, ag_tensor *g, const ag__upd *u, bool adam) {
    ag__upd_job j;
    j.ctx = ctx; j.p = p; j.g = g; j.s = s; j.u = u; j.adam = adam;
    ag__parallel(ctx, false, ag__upd_task, &j, (int)((p->numel + AG__UPD_CHUNK - 1) / AG__UPD_CHUNK));
}

AG_API int ag_optim_step(ag_optim *opt) {
    int k;
    int64_t bc_step = -1;      /* Adam's bias corrections, computed once for the parameters at the same step */
    double bc_size = 0, bc2s = 0;
    if (!opt) return -1;
    if (opt->n > 0 && !ag__not_capturing(opt->slot[0].p->ctx, "optim_step", "an optimizer step (call it after ag_replay)")) return -1;
    for (k = 0; k < opt->n; k++) {
        ag__optslot *sl = &opt->slot[k];
        ag_tensor *g = ag_grad(sl->p);
        ag__upd u;
        if (!g) continue;   /* no gradient: skipped, as PyTorch */
        if (g->dtype != sl->p->dtype || !ag__same_shape(g, sl->p)) {
            ag__fail(opt->ctx, "optim_step: the gradient of parameter %d does not match it in dtype or shape", k);
            return -1;
        }
        if (!ag__contig(g)) g = ag_contiguous(g);   /* rare (create_graph gradients): a copy in the arena */
        if (!g) return -1;
        memset(&u, 0, sizeof u);
        sl->step++;
        (*sl->p->version)++;   /* the parameter changes in place */
        if (opt->kind == AG__OPT_SGD) {
            const ag_sgd_opts *o = &opt->sgd;
            u.sign = o->maximize ? -1 : 1; u.lr = o->lr; u.wd = o->weight_decay;
            u.momentum = o->momentum; u.damp1 = 1 - o->dampening; u.nesterov = o->nesterov; u.first = !sl->has_buf;
            ag__update(opt->ctx, sl->p, sl->s, g, &u, false);
            sl->has_buf = true;
        } else {
            const ag_adam_opts *o = &opt->adam;
            bool decoupled = opt->kind == AG__OPT_ADAMW;
            u.sign = o->maximize ? -1 : 1; u.lr = o->lr;
            u.wd = decoupled ? 0 : o->weight_decay;
            u.decay = decoupled ? 1 - o->lr * o->weight_decay : 1;
            u.beta1 = o->beta1; u.beta2 = o->beta2; u.eps = o->eps;
            if (sl->step != bc_step) {
                bc_step = sl->step;
                bc_size = o->lr / (1 - pow(o->beta1, (double)sl->step));   /* lr / (1 - beta1^t) */
                bc2s = sqrt(1 - pow(o->beta2, (double)sl->step));           /* sqrt(1 - beta2^t) */
            }
            u.step_size = bc_size;
            u.bc2s = bc2s;
            ag__update(opt->ctx, sl->p, sl->s, g, &u, true);
        }
    }
    return 0;
}

AG_API void ag_optim_free(ag_optim *opt) {
    int i, k;
    if (!opt) return;
    for (i = 0; i < opt->n; i++) {
        if (opt->slot[i].p) opt->slot[i].p->users--;
        for (k = 0; k < 3; k++) if (opt->slot[i].s[k]) ag__free_persistent_now(opt->slot[i].s[k]);
    }
    ag__persist_free(opt->ctx, opt);
}

AG_API void ag_optim_zero_grad(ag_optim *opt) {
    int k;
    if (!opt) return;
    for (k = 0; k < opt->n; k++) ag_zero_grad(opt->slot[k].p);
}
AG_API void ag_optim_set_lr(ag_optim *opt, double lr) {
    if (!opt) return;
    if (!ag__finite_nonneg(lr)) { ag__fail(opt->ctx, "optim_set_lr: lr %g must be finite and >= 0", lr); return; }
    if (opt->kind == AG__OPT_SGD) opt->sgd.lr = lr; else opt->adam.lr = lr;
}
AG_API double ag_optim_get_lr(const ag_optim *opt) {
    if (!opt) return NAN;
    return opt->kind == AG__OPT_SGD ? opt->sgd.lr : opt->adam.lr;
}
AG_API int64_t ag_optim_steps(const ag_optim *opt, int i) {
    if (!opt || i < 0 || i >= opt->n) return -1;
    return opt->slot[i].step;
}

/* p's gradient, made safe to change in place: an arena copy (gone at the next reset, also for a
   persistent p) when it is not contiguous (an expanded view would change an element many times)
   or when copy is set (it shares memory with another parameter's gradient: create_graph).
   NULL when out of memory. */
static ag_tensor *ag__grad_own(ag_tensor *p, bool copy) {
    ag_tensor *g = ag_grad(p), *c;
    if (!g || (!copy && ag__contig(g))) return g;
    if (!(c = ag__result_raw(g->ctx, g->dtype, g->ndim, g->shape, 0))) return NULL;   /* the copy writes every element */
    ag__copy_into(c, g);
    p->grad = c;
    p->flags = (uint16_t)((p->flags & ~AG__GRAD_OWNED) | AG__GRAD_ARENA);
    p->grad_gen = c->ctx->gen;
    return c;
}

/* ---- dynamic loss scaling: torch.cuda.amp.GradScaler's rules ---- */
enum { AG__AMP_READY, AG__AMP_UNSCALED, AG__AMP_STEPPED };   /* torch's OptState, per optimizer */
struct ag_grad_scaler {
    ag_ctx *ctx;
    ag_tensor *scale;         /* 0-d F32, persistent: ag_scaler_scale's node reads it when it runs */
    double growth, backoff;
    int interval, tracker;    /* growth_interval; good steps since the last growth or backoff */
    uint64_t id, gen;         /* gen counts updates: an optimizer's amp_stage is current when amp_gen == gen */
    int checks;               /* optimizers unscaled since the last update */
    bool found_inf;           /* one of them had an inf or NaN gradient */
};

AG_API ag_grad_scaler *ag_grad_scaler_new(ag_ctx *ctx, const ag_grad_scaler_opts *opts) {
    ag_grad_scaler_opts o;
    ag_grad_scaler *s;
    float init;
    if (!ctx) return NULL;
    if (opts) o = *opts; else memset(&o, 0, sizeof o);
    if (o.init_scale == 0) o.init_scale = 65536.0;   /* 0 fields: torch's defaults */
    if (o.growth_factor == 0) o.growth_factor = 2.0;
    if (o.backoff_factor == 0) o.backoff_factor = 0.5;
    if (o.growth_interval == 0) o.growth_interval = 2000;
    init = o.init_scale > 0 && o.init_scale <= FLT_MAX ? (float)o.init_scale : 0;   /* the scale is an F32 value */
    if (!(init > 0)) { ag__fail(ctx, "grad_scaler_new: init_scale %g must be finite and > 0 in F32", o.init_scale); return NULL; }
    if (!(o.growth_factor > 1 && o.growth_factor <= DBL_MAX) || !(o.backoff_factor > 0 && o.backoff_factor < 1) || o.growth_interval < 1) {
        ag__fail(ctx, "grad_scaler_new: growth_factor %g must be finite and > 1, backoff_factor %g in (0, 1), growth_interval %d >= 1",
                 o.growth_factor, o.backoff_factor, o.growth_interval);
        return NULL;
    }
    if (!(s = (ag_grad_scaler *)ag__persist_alloc(ctx, sizeof *s, "grad_scaler_new"))) return NULL;   /* zeroed */
    if (!(s->scale = ag_persistent(ctx, AG_F32, 0, NULL, &init))) { ag__persist_free(ctx, s); return NULL; }
    s->ctx = ctx;
    s->growth = o.growth_factor; s->backoff = o.backoff_factor; s->interval = o.growth_interval;
    s->id = ++ctx->scaler_ids;   /* never 0, never reused: an optimizer's amp_id names one scaler */
    return s;
}
AG_API void ag_grad_scaler_free(ag_grad_scaler *s) {
    if (!s || !ag__not_capturing(s->ctx, "grad_scaler_free", "freeing a scaler")) return;
    if (s->scale->use_gen == s->ctx->gen) {
        ag__fail(s->ctx, "grad_scaler_free: a tensor made since the last ag_ctx_reset reads the scale (ag_scaler_scale): reset first");
        return;
    }
    ag__free_persistent_now(s->scale);
    ag__persist_free(s->ctx, s);
}

AG_API ag_tensor *ag_scaler_scale(ag_grad_scaler *s, ag_tensor *loss) { loss = ag__arg(loss);   /* 16-bit: an F32 copy (>>half) */
    if (!s || !loss) {
        if (s || loss) ag__fail(s ? s->ctx : loss->ctx, "scaler_scale: the %s is NULL", s ? "loss" : "scaler");
        return NULL;
    }
    if (loss->ctx != s->ctx) {   /* told to both: the caller may check either */
        ag__fail(loss->ctx, "scaler_scale: the loss belongs to another context than the scaler");
        ag__fail(s->ctx, "scaler_scale: the loss belongs to another context than the scaler");
        return NULL;
    }
    return ag_mul(loss, s->scale);   /* loss x scale; backward seeds every gradient with scale */
}

static bool ag__scaler_check(const char *fn, ag_grad_scaler *s, ag_optim *opt) {
    if (!s || !opt) {
        if (s || opt) ag__fail(s ? s->ctx : opt->ctx, "%s: the %s is NULL", fn, s ? "optimizer" : "scaler");
        return false;
    }
    if (opt->ctx != s->ctx) {   /* told to both: the caller may check either */
        ag__fail(opt->ctx, "%s: the optimizer belongs to another context than the scaler", fn);
        ag__fail(s->ctx, "%s: the optimizer belongs to another context than the scaler", fn);
        return false;
    }
    return ag__not_capturing(s->ctx, fn, "unscaling gradients (call it after ag_replay)");
}
static int ag__amp_stage(const ag_grad_scaler *s, const ag_optim *opt) {
    return opt->amp_id == s->id && opt->amp_gen == s->gen ? opt->amp_stage : AG__AMP_READY;
}
/* x[i] *= inv; true if an x[i] was inf or NaN before (all exponent bits set: by the bits, so
   -ffast-math cannot assume it away). inv 1 multiplies nothing, as torch. */
static bool ag__unscale_f32(float *x, int64_t n, float inv) {
    uint32_t u[4], b0 = 0, b1 = 0, b2 = 0, b3 = 0;   /* (u & exponent) + 1 in the exponent's lowest bit carries into bit 31 for inf/NaN */
    int64_t i;
    for (i = 0; i + 4 <= n; i += 4) {   /* one pass, four independent chains */
        memcpy(u, x + i, 16);
        b0 |= (u[0] & 0x7f800000u) + 0x00800000u; b1 |= (u[1] & 0x7f800000u) + 0x00800000u;
        b2 |= (u[2] & 0x7f800000u) + 0x00800000u; b3 |= (u[3] & 0x7f800000u) + 0x00800000u;
        if (inv != 1.0f) { x[i] *= inv; x[i + 1] *= inv; x[i + 2] *= inv; x[i + 3] *= inv; }
    }
    for (; i < n; i++) { memcpy(u, x + i, 4); b0 |= (u[0] & 0x7f800000u) + 0x00800000u; if (inv != 1.0f) x[i] *= inv; }
    return ((b0 | b1 | b2 | b3) >> 31) != 0;
}
static bool ag__unscale_f64(double *x, int64_t n, double inv) {
    uint64_t u, bad = 0;
    int64_t i;
    for (i = 0; i < n; i++) { memcpy(&u, x + i, 8); bad |= (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull; }
    if (inv != 1.0) for (i = 0; i < n; i++) x[i] *= inv;
    return bad != 0;
}
static int ag__scaler_unscale(ag_grad_scaler *s, ag_optim *opt, const char *fn) {
    float inv = (float)(1.0 / (double)*(const float *)(const void *)s->scale->data);   /* torch: scale.double().reciprocal().float() */
    bool inf = false, any = false;
    int k, j;
    for (k = 0; k < opt->n; k++) {
        ag_tensor *p = opt->slot[k].p, *g = ag_grad(p);
        bool shared = false;
        if (!g) continue;   /* no gradient: skipped, as torch */
        if (g->dtype != p->dtype || !ag__same_shape(g, p)) {
            ag__fail(s->ctx, "%s: the gradient of parameter %d does not match it in dtype or shape", fn, k);
            return -1;
        }
        for (j = 0; j < k && !shared; j++) shared = ag_grad(opt->slot[j].p) && ag__shares_memory(g, ag_grad(opt->slot[j].p));
        if (!(g = ag__grad_own(p, shared))) return -1;
        any = true;
        if (g->dtype == AG_F32) inf |= ag__unscale_f32((float *)(void *)g->data, g->numel, inv);   /* g *= 1/scale, in F32 */
        else inf |= ag__unscale_f64((double *)(void *)g->data, g->numel, (double)inv);      /* F64: by the same F32 1/scale */
    }
    if (!any) {
        ag__fail(s->ctx, "%s: no parameter of the optimizer has a gradient, so there is nothing to check for inf or NaN "
                 "(ag_backward first)", fn);
        return -1;
    }
    opt->amp_id = s->id; opt->amp_gen = s->gen; opt->amp_stage = AG__AMP_UNSCALED; opt->amp_inf = inf;
    s->checks++;
    s->found_inf = s->found_inf || inf;
    return 0;
}
AG_API int ag_scaler_unscale(ag_grad_scaler *s, ag_optim *opt) {
    int stage;
    if (!ag__scaler_check("scaler_unscale", s, opt)) return -1;
    if ((stage = ag__amp_stage(s, opt)) != AG__AMP_READY) {
        ag__fail(s->ctx, stage == AG__AMP_UNSCALED ? "scaler_unscale: already called for this optimizer since the last ag_scaler_update"
                                                    : "scaler_unscale: called after ag_scaler_step, before ag_scaler_update");
        return -1;
    }
    return ag__scaler_unscale(s, opt, "scaler_unscale");
}
AG_API int ag_scaler_step(ag_grad_scaler *s, ag_optim *opt) {
    int stage;
    if (!ag__scaler_check("scaler_step", s, opt)) return -1;
    if ((stage = ag__amp_stage(s, opt)) == AG__AMP_STEPPED) {
        ag__fail(s->ctx, "scaler_step: already called for this optimizer since the last ag_scaler_update");
        return -1;
    }
    if (stage == AG__AMP_READY && ag__scaler_unscale(s, opt, "scaler_step") != 0) return -1;
    opt->amp_stage = AG__AMP_STEPPED;
    if (opt->amp_inf) return 0;   /* an inf or NaN gradient: the parameters stay as they are */
    return ag_optim_step(opt) == 0 ? 1 : -1;
}
AG_API int ag_scaler_update(ag_grad_scaler *s) {
    float *scale;
    if (!s || !ag__not_capturing(s->ctx, "scaler_update", "a scale update")) return -1;
    if (!s->checks) {
        ag__fail(s->ctx, "scaler_update: no ag_scaler_step or ag_scaler_unscale since the last update, so no inf check to go by");
        return -1;
    }
    scale = (float *)(void *)s->scale->data;
    if (s->found_inf) {   /* scale *= backoff; tracker = 0 (in double, rounded to F32, as torch's kernel) */
        *scale = (float)((double)*scale * s->backoff);
        s->tracker = 0;
    } else if (s->tracker + 1 < s->interval) s->tracker++;   /* tracker += 1 */
    else {   /* the growth_interval-th good step in a row: scale *= growth unless that is inf in F32; tracker = 0 */
        double grown = (double)*scale * s->growth;
        if (grown < 3.4028235677973366e38) *scale = (float)grown;   /* below FLT_MAX + half its ulp (2^128 - 2^103): a finite float */
        s->tracker = 0;
    }
    (*s->scale->version)++;   /* changed in place: a retained graph that read the old scale cannot be backpropagated again */
    s->checks = 0;
    s->found_inf = false;
    s->gen++;                 /* every optimizer is ready again */
    return 0;
}
AG_API double ag_scaler_get_scale(const ag_grad_scaler *s) { return s ? (double)*(const float *)(const void *)s->scale->data : NAN; }
AG_API int ag_scaler_growth_tracker(const ag_grad_scaler *s) { return s ? s->tracker : -1; }

/* ---- learning-rate schedules ---- */
AG_API double ag_lr_step(int step, int step_size, double gamma, double base_lr) {
    if (step_size <= 0 || step < 0) return base_lr;
    return base_lr * pow(gamma, (double)(step / step_size));
}
AG_API double ag_lr_cosine(int step, int warmup, int total, double base_lr, double min_lr) {
    double t;
    if (step < 0) step = 0;
    if (step < warmup) return base_lr * ((double)step + 1) / (double)warmup;
    if (total <= warmup) return min_lr;
    t = ((double)step - warmup) / ((double)total - warmup);   /* in double: no int overflow */
    if (t > 1) t = 1;
    return min_lr + (base_lr - min_lr) * (1 + cos(3.141592653589793 * t)) / 2;
}

/* ---- gradient clipping ---- */
static bool ag__clip_check(ag_tensor *const *params, int n, const char *name) {
    int i;
    if (n < 0 || (n > 0 && !params)) return false;
    if (!ag__live_list(name, NULL, n, params)) return false;
    for (i = 0; i < n; i++) if (!params[i]) {
        if (i > 0 && params[0]) ag__fail(params[0]->ctx, "%s: parameter %d is NULL", name, i);
        return false;
    }
    for (i = 1; i < n; i++) if (params[i]->ctx != params[0]->ctx) {
        ag__fail(params[0]->ctx, "%s: parameter %d belongs to another context than parameter 0", name, i);
        return false;
    }
    return true;
}
#ifdef AG_NO_F64
/* sum of x[i]^2 through ag__acc; AG__EXACT: a square fused into the compensated add would round differently per target */
AG__EXACT static float ag__sumsq_f32(const float *x, int64_t n) {
    ag__acc a;
    int64_t i;
    ag__acc_init(&a, 0);
    for (i = 0; i < n; i++) ag__acc_add(&a, x[i] * x[i]);
    return a.s;
}
#endif
AG_API double ag_clip_grad_norm(ag_tensor *const *params, int n, double max_norm, double norm_type) {
    double total = 0, coef;
    int k;
    int64_t i;
    if (!ag__clip_check(params, n, "clip_grad_norm")) return NAN;
    if (n > 0 && !ag__not_capturing(params[0]->ctx, "clip_grad_norm", "gradient clipping (call it after ag_replay)")) return NAN;
    if (!(norm_type > 0) || !(max_norm >= 0)) {
        if (n > 0) ag__fail(params[0]->ctx, "clip_grad_norm: norm_type %g must be > 0 and max_norm %g >= 0", norm_type, max_norm);
        return NAN;
    }
    for (k = 0; k < n; k++) {
        ag_tensor *g = ag_grad(params[k]);
        bool gc;
        if (!g) continue;
        gc = ag__contig(g);
#ifdef AG_NO_F64
        if (gc && norm_type == 2) { total += ag__sumsq_f32((const float *)(const void *)g->data, g->numel); continue; }   /* the common case */
#else
        if (gc && norm_type == 2) {   /* the common case: four partial sums in double */
            double s4[4] = {0, 0, 0, 0};
            int64_t n4 = g->numel & ~(int64_t)3;
            if (g->dtype == AG_F32) {
                const float *x = (const float *)(const void *)g->data;
                for (i = 0; i < n4; i += 4) {
                    s4[0] += (double)x[i] * x[i]; s4[1] += (double)x[i + 1] * x[i + 1];
                    s4[2] += (double)x[i + 2] * x[i + 2]; s4[3] += (double)x[i + 3] * x[i + 3];
                }
                for (; i < g->numel; i++) s4[0] += (double)x[i] * x[i];
            } else {
                const double *x = (const double *)(const void *)g->data;
                for (i = 0; i < n4; i += 4) {
                    s4[0] += x[i] * x[i]; s4[1] += x[i + 1] * x[i + 1]; s4[2] += x[i + 2] * x[i + 2]; s4[3] += x[i + 3] * x[i + 3];
                }
                for (; i < g->numel; i++) s4[0] += x[i] * x[i];
            }
            total += (s4[0] + s4[1]) + (s4[2] + s4[3]);
            continue;
        }
#endif
        for (i = 0; i < g->numel; i++) {
            double a = fabs(ag__load(g, gc ? i : ag__offset(g, i)));
            if (norm_type > DBL_MAX) { if (a > total || ag__isnan(a)) total = a; }
            else if (norm_type == 2) total += a * a;
            else if (norm_type == 1) total += a;
            else total += pow(a, norm_type);
        }
    }
    if (norm_type <= DBL_MAX) total = norm_type == 2 ? sqrt(total) : norm_type == 1 ? total : pow(total, 1 / norm_type);
    coef = max_norm / (total + 1e-6);
    if (coef < 1) {
        for (k = 0; k < n; k++) {
            ag_tensor *g = ag_grad(params[k]);
            bool gc;
            int j;
            if (!g) continue;
            gc = ag__contig(g);
            for (j = 0; j < k && gc; j++)   /* a gradient sharing memory with another parameter's (create_graph);
                                               the same parameter twice is scaled twice, as PyTorch does */
                gc = params[j] == params[k] || !ag_grad(params[j]) || !ag__shares_memory(g, ag_grad(params[j]));
            if (!gc) {   /* not contiguous (an expanded view scales an element many times) or shared: scale a copy */
                if (!(g = ag__grad_own(params[k], true))) return NAN;
                gc = true;
            }
            if (gc && g->dtype == AG_F32) {
                float *x = (float *)(void *)g->data, c = (float)coef;
                for (i = 0; i < g->numel; i++) x[i] *= c;
            } else if (gc) {
                double *x = (double *)(void *)g->data;
                for (i = 0; i < g->numel; i++) x[i] *= coef;
            } else for (i = 0; i < g->numel; i++) {
                int64_t off = ag__offset(g, i);
                if (g->dtype == AG_F32) ((float *)g->data)[off] *= (float)coef;
                else ((double *)g->data)[off] *= coef;
            }
        }
    }
    return total;
}
AG_API int ag_clip_grad_value(ag_tensor *const *params, int n, double clip_value) {
    int k;
    int64_t i;
    if (!ag__clip_check(params, n, "clip_grad_value")) return -1;
    if (n > 0 && !ag__not_capturing(params[0]->ctx, "clip_grad_value", "gradient clipping (call it after ag_replay)")) return -1;
    if (!(clip_value >= 0)) {
        if (n > 0) ag__fail(params[0]->ctx, "clip_grad_value: clip_value %g must be >= 0", clip_value);
        return -1;
    }
    for (k = 0; k < n; k++) {
        ag_tensor *g = ag_grad(params[k]);
        bool gc;
        if (!g) continue;
        gc = ag__contig(g);
        for (i = 0; i < g->numel; i++) {
            int64_t off = gc ? i : ag__offset(g, i);
            double v = ag__load(g, off);
            if (v > clip_value) ag__store(g, off, clip_value);
            else if (v < -clip_value) ag__store(g, off, -clip_value);
        }
    }
    return 0;
}

/* ---- initialisation ---- */
AG_API double ag_init_gain(ag_nonlinearity nl, double negative_slope) {
    switch (nl) {
    case AG_NL_TANH: return 5.0 / 3.0;
    case AG_NL_RELU: return sqrt(2.0);
    case AG_NL_LEAKY_RELU: return sqrt(2.0 / (1 + negative_slope * negative_slope));
    case AG_NL_SELU: return 0.75;
    case AG_NL_LINEAR: case AG_NL_SIGMOID: default: return 1.0;
    }
}
static bool ag__writable(const char *name, ag_tensor *t);
static bool ag__init_check(ag_tensor *t, const char *name) {
    if (!t) return false;
    if (t->op) { ag__fail(t->ctx, "%s: the tensor was made by '%s'; initialise leaves only", name, t->op->name); return false; }
    return ag__writable(name, t);
}
/* dist 0: U[lo, hi); 1: N(lo, hi^2) */
static int ag__init_fill(ag_tensor *t, const char *name, int dist, double a, double b) {
    int64_t i;
    bool c;
    if (!ag__init_check(t, name) || !ag__not_capturing(t->ctx, name, "an initialiser")) return -1;
    if (!(a == a && b == b)) { ag__fail(t->ctx, "%s: NaN parameter", name); return -1; }
    c = ag__contig(t);
    for (i = 0; i < t->numel; i++) {
        double v = dist == 0 ? a + (b - a) * ag__rng_uniform(t->ctx) : dist == 1 ? a + b * ag__rng_normal(t->ctx) : a;
        ag__store(t, c ? i : ag__offset(t, i), v);
    }
    return 0;
}
static bool ag__fans(ag_tensor *t, const char *name, double *fan_in, double *fan_out) {
    double rf = 1;
    int d;
    char s[200];
    if (t->ndim < 2) {
        ag__fail(t->ctx, "%s: fan in and fan out need at least 2 dims; the tensor has shape %s", name, AG__SHAPE(s, t));
        return false;
    }
    for (d = 2; d < t->ndim; d++) rf *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * rf;
    *fan_out = (double)t->shape[0] * rf;
    return true;
}
AG_API int ag_init_uniform(ag_tensor *t, double lo, double hi) { t = ag__arg(t); return ag__init_fill(t, "init_uniform", 0, lo, hi); }
AG_API int ag_init_normal(ag_tensor *t, double mean, double std) { t = ag__arg(t); return ag__init_fill(t, "init_normal", 1, mean, std); }
AG_API int ag_init_constant(ag_tensor *t, double value) { t = ag__arg(t); return ag__init_fill(t, "init_constant", 2, value, 0); }
static int ag__init_xavier(ag_tensor *t, const char *name, double gain, int dist) {
    double fi, fo, std;
    if (!ag__init_check(t, name) || !ag__fans(t, name, &fi, &fo)) return -1;
    std = fi + fo > 0 ? gain * sqrt(2.0 / (fi + fo)) : 0;
    return dist == 0 ? ag__init_fill(t, name, 0, -sqrt(3.0) * std, sqrt(3.0) * std) : ag__init_fill(t, name, 1, 0, std);
}
AG_API int ag_init_xavier_uniform(ag_tensor *t, double gain) { t = ag__arg(t); return ag__init_xavier(t, "init_xavier_uniform", gain, 0); }
AG_API int ag_init_xavier_normal(ag_tensor *t, double gain) { t = ag__arg(t); return ag__init_xavier(t, "init_xavier_normal", gain, 1); }
static int ag__init_kaiming(ag_tensor *t, const char *name, double a, ag_fan mode, ag_nonlinearity nl, int dist) {
    double fi, fo, fan, std;
    if (!ag__init_check(t, name) || !ag__fans(t, name, &fi, &fo)) return -1;
    fan = mode == AG_FAN_OUT ? fo : fi;
    if (fan <= 0) { ag__fail(t->ctx, "%s: the fan is 0 (an empty tensor)", name); return -1; }
    std = ag_init_gain(nl, a) / sqrt(fan);
    return dist == 0 ? ag__init_fill(t, name, 0, -sqrt(3.0) * std, sqrt(3.0) * std) : ag__init_fill(t, name, 1, 0, std);
}
AG_API int ag_init_kaiming_uniform(ag_tensor *t, double a, ag_fan mode, ag_nonlinearity nl) { t = ag__arg(t);
    return ag__init_kaiming(t, "init_kaiming_uniform", a, mode, nl, 0);
}
AG_API int ag_init_kaiming_normal(ag_tensor *t, double a, ag_fan mode, ag_nonlinearity nl) { t = ag__arg(t);
    return ag__init_kaiming(t, "init_kaiming_normal", a, mode, nl, 1);
}
AG_API int ag_init_linear(ag_tensor *W, ag_tensor *b) { ag__args(&W, &b, NULL, NULL, NULL);
    double fi, fo, bound;
    if (!W && b) { ag__fail(b->ctx, "init_linear: W is NULL"); return -1; }
    if (!ag__init_check(W, "init_linear") || !ag__fans(W, "init_linear", &fi, &fo)) return -1;
    bound = fi > 0 ? 1 / sqrt(fi) : 0;
    /* kaiming_uniform(a = sqrt 5): gain sqrt(2 / 6), bound sqrt 3 gain / sqrt(fan_in) = 1 / sqrt(fan_in) */
    if (ag__init_fill(W, "init_linear", 0, -bound, bound) != 0) return -1;
    return b ? ag__init_fill(b, "init_linear", 0, -bound, bound) : 0;
}

#ifndef AG_NO_SAFETENSORS
/* ==== >>safetensors ==== */
#define AG__ST_MAX_HEADER 100000000u   /* as the reference implementation */
#define AG__ST_MAX_DIMS 64
#define AG__ST_MAX_INT ((uint64_t)1 << 53)

/* the format's name of a dtype */
static const char *ag__st_dtype_name(int dtype) {
    static const char *const names[7] = { "F32", "F64", "F16", "BF16", "I32", "I64", "BOOL" };
    return names[dtype];
}
static bool ag__st_little(void) { uint16_t x = 1; unsigned char c; memcpy(&c, &x, 1); return c == 1; }

/* output: a FILE or a memory buffer (bytes past cap are counted, not written) */
typedef struct { ag_file *f; char *buf; size_t cap, pos; bool ok; } ag__st_out;
static void ag__st_put(ag__st_out *o, const void *p, size_t n) {
#ifndef AG_NO_STDIO
    if (o->f) { if (n && fwrite(p, 1, n, o->f) != n) o->ok = false; }
    else
#endif
    if (o->buf && o->pos <= o->cap && n <= o->cap - o->pos) memcpy(o->buf + o->pos, p, n);
    o->pos += n;
}
static void ag__st_puts(ag__st_out *o, const char *s) { ag__st_put(o, s, strlen(s)); }
static void ag__st_put_name(ag__st_out *o, const char *s) {
    ag__st_puts(o, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[8];
        if (c == '"' || c == '\\') { e[0] = '\\'; e[1] = (char)c; ag__st_put(o, e, 2); }
        else if (c < 0x20) { ag__format(e, sizeof e, "\\u%04x", c); ag__st_put(o, e, 6); }
        else ag__st_put(o, s, 1);
    }
    ag__st_puts(o, "\"");
}

/* writes the JSON header (without padding) */
static void ag__st_header(ag__st_out *o, int n, const char *const *names, ag_tensor *const *ts) {
    uint64_t off = 0;
    int i, d;
    char num[64];
    ag__st_puts(o, "{");
    for (i = 0; i < n; i++) {
        uint64_t bytes = (uint64_t)ts[i]->numel * ag__esize(ts[i]->dtype);
        ag__st_put_name(o, names[i]);
        ag__st_puts(o, ":{\"dtype\":\"");
        ag__st_puts(o, ag__st_dtype_name(ts[i]->dtype));
        ag__st_puts(o, "\",\"shape\":[");
        for (d = 0; d < ts[i]->ndim; d++) {
            ag__format(num, sizeof num, d ? ",%lld" : "%lld", (long long)ts[i]->shape[d]);
            ag__st_puts(o, num);
        }
        ag__format(num, sizeof num, "],\"data_offsets\":[%llu,%llu]},", (unsigned long long)off, (unsigned long long)(off + bytes));
        ag__st_puts(o, num);
        off += bytes;
    }
    ag__st_puts(o, "\"__metadata__\":{\"format\":\"pt\"}}");
}

static bool ag__st_utf8(const unsigned char *p, size_t n);
static bool ag__st_check_save(ag_ctx *ctx, const char *op, int n, const char *const *names, ag_tensor *const *ts) {
    int i, j;
    if (n < 0 || (n > 0 && (!names || !ts))) { ag__fail(ctx, "%s: n is %d with NULL names or tensors", op, n); return false; }
    if (!ag__live_list(op, ctx, n, ts)) return false;
    for (i = 0; i < n; i++) {
        if (!names[i] || !ts[i]) { ag__fail(ctx, "%s: name or tensor %d is NULL", op, i); return false; }
        if (ts[i]->ctx != ctx) { ag__fail(ctx, "%s: tensor %d belongs to another context", op, i); return false; }
        if (!ag__st_utf8((const unsigned char *)names[i], strlen(names[i]))) {
            ag__fail(ctx, "%s: name %d is not valid UTF-8 (the format's names are JSON strings)", op, i);
            return false;
        }
        if (!strcmp(names[i], "__metadata__")) { ag__fail(ctx, "%s: the name \"__metadata__\" is reserved", op); return false; }
        for (j = 0; j < i; j++)
            if (!strcmp(names[i], names[j])) { ag__fail(ctx, "%s: the name '%s' appears twice", op, names[i]); return false; }
    }
    return true;
}

static void ag__st_write(ag__st_out *o, int n, const char *const *names, ag_tensor *const *ts) {
    ag__st_out count;
    unsigned char len8[8];
    uint64_t hlen;
    int i, k;
    bool le = ag__st_little();
    memset(&count, 0, sizeof count);
    count.ok = true;
    ag__st_header(&count, n, names, ts);          /* measure */
    hlen = (count.pos + 7) & ~(uint64_t)7;       /* pad with spaces so the data is 8-byte aligned */
    for (k = 0; k < 8; k++) len8[k] = (unsigned char)(hlen >> (8 * k));
    ag__st_put(o, len8, 8);
    ag__st_header(o, n, names, ts);
    while ((o->pos - 8) % 8) ag__st_put(o, " ", 1);
    for (i = 0; i < n; i++) {
        ag_tensor *t = ts[i];
        size_t es = ag__esize(t->dtype);
        if (!o->f && !o->buf) { o->pos += (size_t)t->numel * es; continue; }   /* measuring: the size is enough */
        if (le && ag__contig(t)) { ag__st_put(o, t->data, (size_t)t->numel * es); continue; }
        {
            unsigned char chunk[4096];
            size_t used = 0;
            int64_t e;
            for (e = 0; e < t->numel; e++) {
                const unsigned char *src = (const unsigned char *)t->data + ag__offset(t, e) * (int64_t)es;
                size_t b;
                for (b = 0; b < es; b++) chunk[used + b] = le ? src[b] : src[es - 1 - b];
                used += es;
                if (used == sizeof chunk) { ag__st_put(o, chunk, used); used = 0; }
            }
            ag__st_put(o, chunk, used);
        }
    }
}

AG_API size_t ag_save_safetensors_mem(ag_ctx *ctx, void *buf, size_t cap, int n, const char *const *names, ag_tensor *const *tensors) {
    ag__st_out o;
    if (!ctx) return 0;
    if (!ag__st_check_save(ctx, "save_safetensors_mem", n, names, tensors)) return 0;
    memset(&o, 0, sizeof o);
    o.ok = true;
    ag__st_write(&o, n, names, tensors);          /* measure */
    if (buf && o.pos <= cap) {
        size_t need = o.pos;
        memset(&o, 0, sizeof o);
        o.ok = true;
        o.buf = (char *)buf;
        o.cap = cap;
        ag__st_write(&o, n, names, tensors);
        AG_ASSERT(o.pos == need);
    }
    return o.pos;
}

AG_API int ag_save_safetensors(ag_ctx *ctx, const char *path, int n, const char *const *names, ag_tensor *const *tensors) {
    ag__st_out o;
    if (!ctx) return -1;
    if (!path) { ag__fail(ctx, "save_safetensors: path is NULL"); return -1; }
    if (!ag__st_check_save(ctx, "save_safetensors", n, names, tensors)) return -1;
#ifdef AG_NO_STDIO
    (void)o;
    ag__fail(ctx, "save_safetensors: built with AG_NO_STDIO, no files: use ag_save_safetensors_mem");
    return -1;
#else
    memset(&o, 0, sizeof o);
    o.ok = true;
    o.f = fopen(path, "wb");
    if (!o.f) { ag__fail(ctx, "save_safetensors: cannot open '%s' for writing", path); return -1; }
    ag__st_write(&o, n, names, tensors);
    if (fclose(o.f) != 0) o.ok = false;
    if (!o.ok) { ag__fail(ctx, "save_safetensors: writing '%s' failed", path); remove(path); return -1; }
    return 0;
#endif
}

/* ---- loading: a strict parser for exactly the safetensors header ---- */
typedef struct {
    const char *name; size_t name_len;
    const char *dtype; int esize;   /* esize 0: a known safetensors type that is not an ag_dtype */
    int ag;                         /* the ag_dtype, when esize is not 0 */
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    uint64_t numel, begin, end;
} ag__st_entry;
typedef struct {
    const char *p, *start, *end;
    char *strbuf;                   /* decoded strings, NUL-terminated; never longer than the header */
    char err[160];
} ag__st_js;

static bool ag__st_err(ag__st_js *s, const char *what) {
    if (!s->err[0]) ag__format(s->err, sizeof s->err, "header byte %ld: %s", (long)(s->p - s->start), what);
    return false;
}
static void ag__st_ws(ag__st_js *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}
static bool ag__st_lit(ag__st_js *s, char c) {
    ag__st_ws(s);
    if (s->p >= s->end || *s->p != c) {
        char m[32];
        ag__format(m, sizeof m, "expected '%c'", c);
        return ag__st_err(s, m);
    }
    s->p++;
    return true;
}
static int ag__st_hex4(const char *p) {
    int v = 0, i;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}
/* a JSON string, decoded to UTF-8 in strbuf; *out points at it */
static bool ag__st_string(ag__st_js *s, const char **out, size_t *len) {
    char *o = s->strbuf;
    ag__st_ws(s);
    if (s->p >= s->end || *s->p != '"') return ag__st_err(s, "expected a string");
    s->p++;
    *out = o;
    for (;;) {
        unsigned char c;
        if (s->p >= s->end) return ag__st_err(s, "unterminated string");
        c = (unsigned char)*s->p++;
        if (c == '"') break;
        if (c < 0x20) return ag__st_err(s, "control character in a string");
        if (c != '\\') { *o++ = (char)c; continue; }
        if (s->p >= s->end) return ag__st_err(s, "unterminated escape");
        c = (unsigned char)*s->p++;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            long cp;
            int h;
            if (s->end - s->p < 4 || (h = ag__st_hex4(s->p)) < 0) return ag__st_err(s, "bad \\u escape");
            s->p += 4;
            cp = h;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return ag__st_err(s, "lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo;
                if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || (lo = ag__st_hex4(s->p + 2)) < 0xDC00 || lo > 0xDFFF)
                    return ag__st_err(s, "unpaired high surrogate");
                s->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) return ag__st_err(s, "\\u0000 in a string");
            /* 6 escape bytes (12 for a pair) always cover the 1 to 4 UTF-8 bytes */
            if (cp < 0x80) *o++ = (char)cp;
            else if (cp < 0x800) { *o++ = (char)(0xC0 | (cp >> 6)); *o++ = (char)(0x80 | (cp & 63)); }
            else if (cp < 0x10000) { *o++ = (char)(0xE0 | (cp >> 12)); *o++ = (char)(0x80 | ((cp >> 6) & 63)); *o++ = (char)(0x80 | (cp & 63)); }
            else { *o++ = (char)(0xF0 | (cp >> 18)); *o++ = (char)(0x80 | ((cp >> 12) & 63)); *o++ = (char)(0x80 | ((cp >> 6) & 63)); *o++ = (char)(0x80 | (cp & 63)); }
            break;
        }
        default: return ag__st_err(s, "unknown escape");
        }
    }
    *len = (size_t)(o - *out);
    *o++ = 0;
    s->strbuf = o;
    return true;
}
static bool ag__st_uint(ag__st_js *s, uint64_t *v) {
    uint64_t x = 0;
    const char *b;
    ag__st_ws(s);
    b = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        x = x * 10 + (uint64_t)(*s->p - '0');
        if (x > AG__ST_MAX_INT) return ag__st_err(s, "integer too large");
        s->p++;
    }
    if (s->p == b) return ag__st_err(s, "expected a non-negative integer");
    if (*b == '0' && s->p - b > 1) return ag__st_err(s, "leading zero in an integer");
    if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')) return ag__st_err(s, "expected an integer");
    *v = x;
    return true;
}
static bool ag__st_more(ag__st_js *s, char close, bool *more) {   /* after an element: ',' or close */
    ag__st_ws(s);
    if (s->p < s->end && *s->p == ',') { s->p++; *more = true; return true; }
    if (s->p < s->end && *s->p == close) { s->p++; *more = false; return true; }
    return ag__st_err(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}
static bool ag__st_empty(ag__st_js *s, char close) {   /* right after '{' or '[': is it closed at once? */
    ag__st_ws(s);
    if (s->p < s->end && *s->p == close) { s->p++; return true; }
    return false;
}

static const struct { const char *name; int size; } ag__st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4}, {"F64", 8}, {"I64", 8}, {"U64", 8}
};

static bool ag__st_tensor(ag__st_js *s, ag__st_entry *e) {
    bool seen[3] = {false, false, false}, more;
    int k;
    uint64_t bytes = 0;
    int size = 0;
    if (!ag__st_lit(s, '{')) return false;
    if (ag__st_empty(s, '}')) return ag__st_err(s, "a tensor entry needs dtype, shape and data_offsets");
    do {
        const char *key;
        size_t klen;
        if (!ag__st_string(s, &key, &klen) || !ag__st_lit(s, ':')) return false;
        if (!strcmp(key, "dtype") && !seen[0]) {
            const char *dt;
            size_t dlen;
            seen[0] = true;
            if (!ag__st_string(s, &dt, &dlen)) return false;
            for (k = 0; k < (int)(sizeof ag__st_dtypes / sizeof ag__st_dtypes[0]); k++)
                if (!strcmp(dt, ag__st_dtypes[k].name)) { size = ag__st_dtypes[k].size; e->dtype = ag__st_dtypes[k].name; }
            if (!size) return ag__st_err(s, "unknown dtype");
            for (k = 0; k <= AG_BOOL; k++)   /* the loadable ones */
                if (!strcmp(dt, ag__st_dtype_name(k))) { e->esize = (int)ag__esize(k); e->ag = k; }
        } else if (!strcmp(key, "shape") && !seen[1]) {
            seen[1] = true;
            e->numel = 1;
            if (!ag__st_lit(s, '[')) return false;
            if (!ag__st_empty(s, ']')) do {
                uint64_t d;
                if (e->ndim >= AG__ST_MAX_DIMS) return ag__st_err(s, "too many dims");
                if (!ag__st_uint(s, &d)) return false;
                if (e->ndim < AG_MAX_DIMS) e->shape[e->ndim] = (int64_t)d;
                e->ndim++;
                if (d && e->numel > AG__ST_MAX_INT / d) return ag__st_err(s, "too many elements");
                e->numel *= d;
                if (!ag__st_more(s, ']', &more)) return false;
            } while (more);
        } else if (!strcmp(key, "data_offsets") && !seen[2]) {
            seen[2] = true;
            if (!ag__st_lit(s, '[') || !ag__st_uint(s, &e->begin) || !ag__st_lit(s, ',') ||
                !ag__st_uint(s, &e->end) || !ag__st_lit(s, ']')) return false;
            if (e->end < e->begin) return ag__st_err(s, "data_offsets end before they begin");
        } else return ag__st_err(s, "unknown or repeated key in a tensor entry");
        if (!ag__st_more(s, '}', &more)) return false;
    } while (more);
    if (!seen[0] || !seen[1] || !seen[2]) return ag__st_err(s, "a tensor entry needs dtype, shape and data_offsets");
    bytes = e->numel * (uint64_t)size;
    if (e->end - e->begin != bytes) return ag__st_err(s, "data_offsets do not span dtype size x shape");
    return true;
}
static bool ag__st_metadata(ag__st_js *s) {
    bool more;
    const char *str;
    size_t len;
    if (!ag__st_lit(s, '{')) return false;
    if (ag__st_empty(s, '}')) return true;
    do {
        if (!ag__st_string(s, &str, &len) || !ag__st_lit(s, ':') || !ag__st_string(s, &str, &len)) return false;
        if (!ag__st_more(s, '}', &more)) return false;
    } while (more);
    return true;
}

static int ag__st_cmp_name(const void *a, const void *b) {
    const ag__st_entry *x = (const ag__st_entry *)a, *y = (const ag__st_entry *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_len < y->name_len ? -1 : x->name_len > y->name_len ? 1 : 0);
}
static int ag__st_cmp_off(const void *a, const void *b) {
    const ag__st_entry *x = *(const ag__st_entry *const *)a, *y = *(const ag__st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end ? 1 : 0;
}
/* well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF) */
static bool ag__st_utf8(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k, len;
        unsigned long cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return false;
        if (n - i < len) return false;
        for (k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += len;
    }
    return true;
}

static int ag__st_load(ag_ctx *ctx, const char *op, const unsigned char *buf, size_t len, int n,
                       const char *const *names, ag_tensor **tensors) {
    uint64_t hlen = 0, data_len, pos;
    size_t cap, count = 0, i;
    char *mem;
    ag__st_entry *ents, **order;
    ag__st_js s;
    ag_tensor **made = NULL;
    int k, rc = -1;
    bool more, meta = false, le = ag__st_little();
    if (!ag__not_capturing(ctx, op, "loading")) return -1;
    if (!ctx) return -1;
    if (n < 0 || (n > 0 && (!names || !tensors))) { ag__fail(ctx, "%s: n is %d with NULL names or tensors", op, n); return -1; }
    for (k = 0; k < n; k++) if (!names[k]) { ag__fail(ctx, "%s: name %d is NULL", op, k); return -1; }
    if (!ag__live_list(op, ctx, n, tensors)) return -1;
    if (!buf && len) { ag__fail(ctx, "%s: buffer is NULL", op); return -1; }
    if (len < 8) { ag__fail(ctx, "%s: truncated: %zu bytes, fewer than the 8-byte header size", op, len); return -1; }
    for (k = 7; k >= 0; k--) hlen = (hlen << 8) | buf[k];
    if (hlen > AG__ST_MAX_HEADER) { ag__fail(ctx, "%s: header size %llu is over the limit of %u", op, (unsigned long long)hlen, AG__ST_MAX_HEADER); return -1; }
    if (hlen > len - 8) { ag__fail(ctx, "%s: truncated: the header needs %llu bytes, %zu are left", op, (unsigned long long)hlen, len - 8); return -1; }
    if (hlen < 2) { ag__fail(ctx, "%s: header of %llu bytes is too short", op, (unsigned long long)hlen); return -1; }
    data_len = (uint64_t)(len - 8) - hlen;
    if (!ag__st_utf8(buf + 8, (size_t)hlen)) { ag__fail(ctx, "%s: the header is not valid UTF-8", op); return -1; }
    /* scratch: entries (a minimal entry takes 49 header bytes), their order, decoded strings */
    cap = (size_t)hlen / 49 + 1;
    mem = (char *)ag__heap_alloc(ctx, cap * (sizeof(ag__st_entry) + sizeof(ag__st_entry *)) + (size_t)hlen + 1);
    if (!mem) { ag__fail(ctx, "%s: out of memory for a header of %llu bytes", op, (unsigned long long)hlen); return -1; }
    ents = (ag__st_entry *)(void *)mem;
    order = (ag__st_entry **)(void *)(mem + cap * sizeof(ag__st_entry));
    memset(&s, 0, sizeof s);
    s.start = s.p = (const char *)buf + 8;
    s.end = s.start + hlen;
    s.strbuf = mem + cap * (sizeof(ag__st_entry) + sizeof(ag__st_entry *));
    if (!ag__st_lit(&s, '{')) goto bad;
    if (!ag__st_empty(&s, '}')) do {
        const char *key;
        size_t klen;
        if (!ag__st_string(&s, &key, &klen) || !ag__st_lit(&s, ':')) goto bad;
        if (!strcmp(key, "__metadata__") && klen == 12) {
            if (meta) { ag__st_err(&s, "two __metadata__ entries"); goto bad; }
            meta = true;
            if (!ag__st_metadata(&s)) goto bad;
        } else {
            ag__st_entry *e;
            if (count >= cap) { ag__st_err(&s, "too many entries"); goto bad; }
            e = &ents[count++];
            memset(e, 0, sizeof *e);
            e->name = key; e->name_len = klen;
            if (!ag__st_tensor(&s, e)) goto bad;
            if (e->end > data_len) { ag__st_err(&s, "data_offsets go past the end of the data"); goto bad; }
        }
        if (!ag__st_more(&s, '}', &more)) goto bad;
    } while (more);
    ag__st_ws(&s);
    if (s.p != s.end) { ag__st_err(&s, "trailing bytes after the header object"); goto bad; }
    /* names are unique; the data is tiled exactly, in some order, with no gaps or overlaps */
    qsort(ents, count, sizeof *ents, ag__st_cmp_name);
    for (i = 1; i < count; i++)
        if (!ag__st_cmp_name(&ents[i - 1], &ents[i])) { ag__fail(ctx, "%s: the name '%s' appears twice", op, ents[i].name); goto out; }
    for (i = 0; i < count; i++) order[i] = &ents[i];
    qsort(order, count, sizeof *order, ag__st_cmp_off);
    for (pos = 0, i = 0; i < count; i++) {
        if (order[i]->begin != pos) {
            ag__fail(ctx, "%s: '%s' starts at data byte %llu, expected %llu (offsets overlap or leave a gap)", op,
                     order[i]->name, (unsigned long long)order[i]->begin, (unsigned long long)pos);
            goto out;
        }
        pos = order[i]->end;
    }
    if (pos != data_len) {
        ag__fail(ctx, "%s: the tensors cover %llu data bytes, the file has %llu", op, (unsigned long long)pos, (unsigned long long)data_len);
        goto out;
    }
    /* every request, checked before anything is written */
    for (k = 0; k < n; k++) {
        ag__st_entry key, *e;
        ag_tensor *t = tensors[k];
        char s1[200], s2[200];
        key.name = names[k]; key.name_len = strlen(names[k]);
        e = (ag__st_entry *)bsearch(&key, ents, count, sizeof *ents, ag__st_cmp_name);
        if (!e) { ag__fail(ctx, "%s: no tensor named '%s' in the file", op, names[k]); goto out; }
        if (!e->esize) { ag__fail(ctx, "%s: '%s' has dtype %s; only F32, F64, F16, BF16, I32, I64 and BOOL load", op, names[k], e->dtype); goto out; }
        if (e->ndim > AG_MAX_DIMS) { ag__fail(ctx, "%s: '%s' has %d dims, more than %d", op, names[k], e->ndim, AG_MAX_DIMS); goto out; }
        {   /* what ag_persistent accepts: the product of the non-zero sizes is bounded too */
            uint64_t nz = 1;
            int d;
            for (d = 0; d < e->ndim; d++)
                if (e->shape[d] > 0) nz = (uint64_t)e->shape[d] > (uint64_t)AG__MAX_NUMEL / nz ? (uint64_t)AG__MAX_NUMEL + 1 : nz * (uint64_t)e->shape[d];
            if (nz > (uint64_t)AG__MAX_NUMEL) { ag__fail(ctx, "%s: '%s' has too many elements", op, names[k]); goto out; }
        }
        if (t && (t->dtype != e->ag || t->ndim != e->ndim || memcmp(t->shape, e->shape, (size_t)e->ndim * sizeof(int64_t)))) {
            ag__shape_str(s1, sizeof s1, e->ndim, e->shape);
            ag__fail(ctx, "%s: '%s' is %s %s in the file, the tensor is %s %s", op, names[k], e->dtype, s1,
                     ag__st_dtype_name(t->dtype), AG__SHAPE(s2, t));
            goto out;
        }
        if (t && t->op) { ag__fail(ctx, "%s: '%s': the tensor was made by '%s'; load into leaves only", op, names[k], t->op->name); goto out; }
        if (t && t->ctx != ctx) { ag__fail(ctx, "%s: '%s': the tensor belongs to another context", op, names[k]); goto out; }
    }
    /* the tensors for the empty slots are made first (persistent: they stay if a later one fails,
       but no slot is written unless every one can be) */
    if ((size_t)n > SIZE_MAX / sizeof(ag_tensor *) || !(made = (ag_tensor **)ag__heap_alloc(ctx, sizeof(ag_tensor *) * (size_t)(n ? n : 1)))) {
        ag__fail(ctx, "%s: out of memory", op);
        goto out;
    }
    for (k = 0; k < n; k++) {
        ag__st_entry key, *e;
        made[k] = tensors[k];
        if (made[k]) continue;
        key.name = names[k]; key.name_len = strlen(names[k]);
        e = (ag__st_entry *)bsearch(&key, ents, count, sizeof *ents, ag__st_cmp_name);
        if (!(made[k] = ag_persistent(ctx, (ag_dtype)e->ag, e->ndim, e->shape, NULL))) goto out;
    }
    for (k = 0; k < n; k++) {
        ag__st_entry key, *e;
        ag_tensor *t = tensors[k] = made[k];
        const unsigned char *src;
        int64_t el;
        key.name = names[k]; key.name_len = strlen(names[k]);
        e = (ag__st_entry *)bsearch(&key, ents, count, sizeof *ents, ag__st_cmp_name);
        src = buf + 8 + hlen + e->begin;
        if (le && ag__contig(t)) { memcpy(t->data, src, (size_t)(e->end - e->begin)); continue; }
        for (el = 0; el < t->numel; el++) {
            unsigned char *dst = (unsigned char *)t->data + ag__offset(t, el) * e->esize;
            int b;
            for (b = 0; b < e->esize; b++) dst[b] = le ? src[el * e->esize + b] : src[el * e->esize + e->esize - 1 - b];
        }
    }
    rc = 0;
    goto out;
bad:
    ag__fail(ctx, "%s: bad header: %s", op, s.err[0] ? s.err : "?");
out:
    ag__heap_free(ctx, made);
    ag__heap_free(ctx, mem);
    return rc;
}

AG_API int ag_load_safetensors_mem(ag_ctx *ctx, const void *buf, size_t len, int n, const char *const *names, ag_tensor **tensors) {
    return ag__st_load(ctx, "load_safetensors", (const unsigned char *)buf, len, n, names, tensors);
}

/* long is 32 bits on Windows (LLP64): ftell would refuse a file past 2 GiB there */
#ifdef _WIN32
#define AG__FSEEK(f, off, whence) _fseeki64((f), (off), (whence))
#define AG__FTELL(f) _ftelli64(f)
#else
#define AG__FSEEK(f, off, whence) fseek((f), (off), (whence))
#define AG__FTELL(f) ftell(f)
#endif
#ifdef AG_NO_STDIO
AG_API int ag_load_safetensors(ag_ctx *ctx, const char *path, int n, const char *const *names, ag_tensor **tensors) {
    (void)n; (void)names; (void)tensors;
    if (!ctx) return -1;
    ag__fail(ctx, "load_safetensors: built with AG_NO_STDIO, no files: use ag_load_safetensors_mem (path '%s')", path ? path : "(NULL)");
    return -1;
}
#else
AG_API int ag_load_safetensors(ag_ctx *ctx, const char *path, int n, const char *const *names, ag_tensor **tensors) {
    FILE *f;
    int64_t size;
    unsigned char *buf;
    int rc;
    if (!ctx) return -1;
    if (!path) { ag__fail(ctx, "load_safetensors: path is NULL"); return -1; }
    f = fopen(path, "rb");
    if (!f) { ag__fail(ctx, "load_safetensors: cannot open '%s'", path); return -1; }
    /* a directory opens on some systems and reports a size of LONG_MAX: one byte is read first, and
       past 2^48 bytes no file is read */
    if (AG__FSEEK(f, 0, SEEK_END) != 0 || (size = (int64_t)AG__FTELL(f)) < 0 || (uint64_t)size > (uint64_t)AG__MAX_NUMEL ||
        AG__FSEEK(f, 0, SEEK_SET) != 0 || (size > 0 && (fgetc(f) == EOF || AG__FSEEK(f, 0, SEEK_SET) != 0))) {
        fclose(f);
        ag__fail(ctx, "load_safetensors: cannot find the size of '%s' (is it a regular file?)", path);
        return -1;
    }
    buf = (uint64_t)size < (uint64_t)SIZE_MAX ? (unsigned char *)ag__heap_alloc(ctx, (size_t)size + 1) : NULL;
    if (!buf) { fclose(f); ag__fail(ctx, "load_safetensors: out of memory reading '%s' (%lld bytes)", path, (long long)size); return -1; }
    if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        ag__heap_free(ctx, buf);
        ag__fail(ctx, "load_safetensors: reading '%s' failed", path);
        return -1;
    }
    fclose(f);
    rc = ag__st_load(ctx, "load_safetensors", buf, (size_t)size, n, names, tensors);
    ag__heap_free(ctx, buf);
    return rc;
}
#endif
#endif /* AG_NO_SAFETENSORS */

#ifndef AG_NO_FUNCTIONAL
/* ==== >>functional ==== */
typedef struct {
    const char *name;
    ag_ctx *ctx;
    int n;
    bool create_graph;
    ag_tensor *x[AG_FUNCTIONAL_MAX_INPUTS];   /* what f sees, and what gradients are taken with respect to */
    ag_tensor *fx[AG_FUNCTIONAL_MAX_INPUTS];  /* the array handed to f (f may overwrite its entries) */
    ag_tensor *const *tangents;               /* forward mode: x[i] carries tangents[i] (NULL entries: none) */
} ag__fn_call;

/* checks the common arguments; 0 ok */
static int ag__fn_begin(ag__fn_call *c, const char *name, ag_ctx *ctx, ag_fn f, int n, ag_tensor *const *inputs,
                        bool create_graph) {
    int i;
    c->name = name; c->ctx = ctx; c->n = n; c->create_graph = create_graph; c->tangents = NULL;
    if (!ctx) return -1;
    if (!f) { ag__fail(ctx, "%s: the function is NULL", name); return -1; }
    if (n < 1 || n > AG_FUNCTIONAL_MAX_INPUTS) {
        ag__fail(ctx, "%s: need 1 to %d inputs, got %d", name, AG_FUNCTIONAL_MAX_INPUTS, n);
        return -1;
    }
    if (!inputs) { ag__fail(ctx, "%s: inputs is NULL for n = %d", name, n); return -1; }
    if (!ag__live_list(name, ctx, n, inputs)) return -1;
    for (i = 0; i < n; i++) {
        if (!inputs[i]) { ag__fail(ctx, "%s: input %d is NULL", name, i); return -1; }
        if (inputs[i]->ctx != ctx) { ag__fail(ctx, "%s: input %d belongs to another context", name, i); return -1; }
    }
    return 0;
}


/* makes the tensors f sees (grad must be enabled), calls f and checks its result */
static ag_tensor *ag__fn_run(ag__fn_call *c, ag_fn f, void *user, ag_tensor *const *inputs) {
    ag_tensor *out;
    int i;
    for (i = 0; i < c->n; i++) {
        ag_tensor *t = inputs[i];
        if (c->create_graph && (t->flags & AG__REQ_GRAD)) c->x[i] = ag__identity(t);
        else if (c->tangents) c->x[i] = ag_detach(t);   /* forward mode needs no reverse graph */
        else c->x[i] = ag_set_requires_grad(ag_detach(t), true);
        if (c->x[i] && c->tangents && c->tangents[i])
            c->x[i] = ag_make_dual(c->x[i], c->create_graph ? c->tangents[i] : ag_detach(c->tangents[i]));
        if (!c->x[i]) return NULL;
        c->fx[i] = c->x[i];
    }
    out = f(c->ctx, c->fx, user);
    if (!out) { ag__fail(c->ctx, "%s: the function returned NULL", c->name); return NULL; }
    if (out->ctx != c->ctx) { ag__fail(c->ctx, "%s: the function returned a tensor of another context", c->name); return NULL; }
    return out;
}

/* a result as handed back: itself under create_graph, else a fresh copy in no graph */
static ag_tensor *ag__fn_result(const ag__fn_call *c, ag_tensor *t) {
    ag_tensor *y;
    if (!t || c->create_graph) return t;
    y = ag_new(c->ctx, (ag_dtype)t->dtype, t->ndim, t->shape);
    if (y) ag__copy_into(y, t);
    return y;
}

static ag_tensor *ag__fn_zeros_like(ag_ctx *ctx, const ag_tensor *t, ag_dtype dtype) {
    return ag_zeros(ctx, dtype, t->ndim, t->shape);
}

/* gradients of y (seeded with seed, NULL: 1) w.r.t. x[0..n), zeros where y does not depend on them */
static int ag__fn_grads(ag__fn_call *c, ag_tensor *y, ag_tensor *seed, bool create, int n, ag_tensor **x, ag_tensor **g) {
    ag_backward_opts o;
    int i;
    if (!(y->flags & AG__REQ_GRAD)) {
        for (i = 0; i < n; i++) if (!(g[i] = ag__fn_zeros_like(c->ctx, x[i], (ag_dtype)x[i]->dtype))) return -1;
        return 0;
    }
    memset(&o, 0, sizeof o);
    o.grad = seed; o.retain_graph = true; o.create_graph = create;
    return ag_grad_of(y, &o, n, x, g);
}

/* rows k0 .. k0 + nk - 1 of every res[i] by one batched backward: ag_vmap of the vjp over the
   one-hot seeds (jacrev); false, with the context's error state as it was, when a rule on the
   way does not batch (a custom op's backward that reads data, a checkpoint) */
typedef struct { ag__fn_call *c; ag_tensor *y; } ag__jac_job;
static int ag__jac_vjp(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    ag__jac_job *j = (ag__jac_job *)user;
    (void)ctx;
    return ag__fn_grads(j->c, j->y, in[0], false, j->c->n, j->c->x, out);
}
static bool ag__fn_jac_batched(ag__fn_call *c, ag_tensor *y, ag_tensor **res, int64_t k0, int64_t nk) {
    ag_ctx *ctx = c->ctx;
    ag__jac_job job;
    ag_tensor *seeds, *g[AG_FUNCTIONAL_MAX_INPUTS];
    int64_t sh[AG_MAX_DIMS], j;
    uint64_t failures = ctx->failures;
    char err[AG_ERROR_BYTES];
    int d, i;
    bool ok;
    if (y->ndim + 1 > AG_MAX_DIMS || (y->dtype != AG_F32 && y->dtype != AG_F64)) return false;
    memcpy(err, ctx->err, sizeof err);
    sh[0] = nk;
    for (d = 0; d < y->ndim; d++) sh[d + 1] = y->shape[d];
    job.c = c; job.y = y;
    ok = (seeds = ag_zeros(ctx, (ag_dtype)y->dtype, y->ndim + 1, sh)) != NULL;
    for (j = 0; ok && j < nk; j++) {   /* seed j: 1 at element k0 + j of y */
        if (seeds->dtype == AG_F32) ((float *)seeds->data)[j * y->numel + k0 + j] = 1.0f;
        else ((double *)seeds->data)[j * y->numel + k0 + j] = 1.0;
    }
    ok = ok && ag_vmap(ctx, ag__jac_vjp, &job, 1, &seeds, NULL, c->n, g, NULL) == 0;
    for (i = 0; ok && i < c->n; i++) {
        size_t es = ag__esize(res[i]->dtype);
        ok = ag_copy_out(g[i], (ag_dtype)res[i]->dtype, res[i]->data + (size_t)(k0 * c->x[i]->numel) * es) == 0;
    }
    if (!ok) { memcpy(ctx->err, err, sizeof err); ctx->failures = failures; }   /* then row by row, as if never tried */
    return ok;
}
#define AG__JAC_CHUNK 64   /* one-hot seeds per batched backward (memory: 64 copies of every gradient on the way) */
/* res[j] = d y / d c->x[j], shape y.shape + x[j].shape: vjps with one-hot seeds, 64 at a time
   through ag_vmap (one batched backward each), else one per element of y */
static int ag__fn_jac_rows(ag__fn_call *c, ag_tensor *y, ag_tensor **res) {
    ag_ctx *ctx = c->ctx;
    ag_tensor *g[AG_FUNCTIONAL_MAX_INPUTS], **rows = NULL;
    int64_t sh[AG_MAX_DIMS], k, m = y->numel;
    int i, d;
    char s1[200], s2[200];
    for (i = 0; i < c->n; i++) {
        ag_tensor *x = c->x[i];
        if (y->ndim + x->ndim > AG_MAX_DIMS) {
            ag__fail(ctx, "%s: the result for input %d would have shape %s + %s, more than %d dims", c->name, i,
                     AG__SHAPE(s1, y), AG__SHAPE(s2, x), AG_MAX_DIMS);
            return -1;
        }
    }
    if (!(y->flags & AG__REQ_GRAD) || m == 0) {   /* y does not depend on the inputs */
        for (i = 0; i < c->n; i++) {
            ag_tensor *x = c->x[i];
            for (d = 0; d < y->ndim; d++) sh[d] = y->shape[d];
            for (d = 0; d < x->ndim; d++) sh[y->ndim + d] = x->shape[d];
            if (!(res[i] = ag_zeros(ctx, (ag_dtype)x->dtype, y->ndim + x->ndim, sh))) return -1;
        }
        return 0;
    }
    if (!c->create_graph) {
        /* rows copied straight into the results; each row's backward is scratch */
        for (i = 0; i < c->n; i++) {
            ag_tensor *x = c->x[i];
            for (d = 0; d < y->ndim; d++) sh[d] = y->shape[d];
            for (d = 0; d < x->ndim; d++) sh[y->ndim + d] = x->shape[d];
            if (!(res[i] = ag_new(ctx, (ag_dtype)x->dtype, y->ndim + x->ndim, sh))) return -1;
        }
        for (k = 0; k < m; k++) {
            ag__mark mk = ag__arena_mark(ctx);
            ag_tensor *e;
            if (k % AG__JAC_CHUNK == 0 && m - k > 1 && ag__fn_jac_batched(c, y, res, k, m - k < AG__JAC_CHUNK ? m - k : AG__JAC_CHUNK)) {
                ag__arena_release(ctx, mk);
                k += (m - k < AG__JAC_CHUNK ? m - k : AG__JAC_CHUNK) - 1;
                continue;
            }
            if (!(e = ag_zeros(ctx, (ag_dtype)y->dtype, y->ndim, y->shape))) return -1;
            if (e->dtype == AG_F32) ((float *)e->data)[k] = 1.0f; else ((double *)e->data)[k] = 1.0;
            if (ag__fn_grads(c, y, e, false, c->n, c->x, g) != 0) return -1;
            for (i = 0; i < c->n; i++) {
                size_t es = res[i]->dtype == AG_F32 ? sizeof(float) : sizeof(double);
                if (ag_copy_out(g[i], (ag_dtype)res[i]->dtype, res[i]->data + (size_t)(k * c->x[i]->numel) * es) != 0) return -1;
            }
            ag__arena_release(ctx, mk);
        }
        return 0;
    }
    /* create_graph: each row is a recorded vjp (its own one-hot, which the graph keeps); stacked */
    rows = ag__ptr_alloc(ctx, (int64_t)m * c->n);
    if (!rows) return -1;
    for (k = 0; k < m; k++) {
        ag_tensor *e = ag_zeros(ctx, (ag_dtype)y->dtype, y->ndim, y->shape);
        if (!e) return -1;
        if (e->dtype == AG_F32) ((float *)e->data)[k] = 1.0f; else ((double *)e->data)[k] = 1.0;
        if (ag__fn_grads(c, y, e, true, c->n, c->x, g) != 0) return -1;
        for (i = 0; i < c->n; i++) rows[(size_t)i * (size_t)m + (size_t)k] = g[i];
    }
    for (i = 0; i < c->n; i++) {
        ag_tensor *x = c->x[i];
        for (d = 0; d < y->ndim; d++) sh[d] = y->shape[d];
        for (d = 0; d < x->ndim; d++) sh[y->ndim + d] = x->shape[d];
        res[i] = ag_reshape(ag_stack(rows + (size_t)i * (size_t)m, (int)m, 0), y->ndim + x->ndim, sh);
        if (!res[i]) return -1;
    }
    return 0;
}

/* the shape of a tangent/cotangent against what it must be */
static int ag__fn_check_shape(ag__fn_call *c, const char *what, int i, const ag_tensor *t, const ag_tensor *want) {
    char s1[200], s2[200];
    if (t && !ag__arg_of(c->name, t, c->ctx)) return -1;
    if (!t) {
        if (i >= 0) ag__fail(c->ctx, "%s: %s[%d] is NULL", c->name, what, i);
        else ag__fail(c->ctx, "%s: %s is NULL", c->name, what);
        return -1;
    }
    if (t->ctx != c->ctx) { ag__fail(c->ctx, "%s: %s belongs to another context", c->name, what); return -1; }
    if (!ag__same_shape(t, want)) {
        if (i >= 0) ag__fail(c->ctx, "%s: %s[%d] has shape %s but input %d has shape %s", c->name, what, i,
                             AG__SHAPE(s1, t), i, AG__SHAPE(s2, want));
        else ag__fail(c->ctx, "%s: %s has shape %s but the function's output has shape %s", c->name, what,
                      AG__SHAPE(s1, t), AG__SHAPE(s2, want));
        return -1;
    }
    return 0;
}

/* <g, v> summed over the inputs whose gradient is recorded; NULL (no error) if none is */
static ag_tensor *ag__fn_dot(ag__fn_call *c, ag_tensor **g, ag_tensor *const *v, bool *ok) {
    ag_tensor *s = NULL;
    int i;
    *ok = true;
    for (i = 0; i < c->n; i++) {
        ag_tensor *term;
        if (!(g[i]->flags & AG__REQ_GRAD)) continue;   /* f is linear in x[i]: no contribution */
        term = ag_sum(ag_mul(g[i], v[i]));
        s = s ? ag_add(s, term) : term;
        if (!s) { *ok = false; return NULL; }
    }
    return s;
}

static int ag__fn_check_scalar(ag__fn_call *c, const ag_tensor *out) {
    char s1[200];
    if (out->numel != 1) {
        ag__fail(c->ctx, "%s: the function must return a single element (a scalar), got shape %s", c->name, AG__SHAPE(s1, out));
        return -1;
    }
    return 0;
}

static int ag__vjp_impl(ag__fn_call *c, ag_fn f, void *user, ag_tensor *const *inputs, ag_tensor *v,
                        ag_tensor **output, ag_tensor **vjps) {
    ag_tensor *out = ag__fn_run(c, f, user, inputs);
    char s1[200];
    int i;
    if (!out) return -1;
    if (v) { if (ag__fn_check_shape(c, "v", -1, v, out) != 0) return -1; }
    else if (out->numel != 1) {
        ag__fail(c->ctx, "%s: the function's output has shape %s; v may be NULL only for a single-element output",
                 c->name, AG__SHAPE(s1, out));
        return -1;
    }
    if (ag__fn_grads(c, out, v, c->create_graph, c->n, c->x, vjps) != 0) return -1;
    for (i = 0; i < c->n; i++) if (!(vjps[i] = ag__fn_result(c, vjps[i]))) return -1;
    if (output && !(*output = ag__fn_result(c, out))) return -1;
    return 0;
}

/* the direction for jvp (u) or hvp (v): as given, or 1 for one single-element input */
static ag_tensor *const *ag__fn_direction(ag__fn_call *c, const char *what, ag_tensor *const *inputs, ag_tensor *const *d,
                                         ag_tensor **ones) {
    char s1[200];
    int i;
    if (!d) {
        if (c->n != 1 || inputs[0]->numel != 1) {
            ag__fail(c->ctx, "%s: %s may be NULL only for one single-element input (got %d inputs, the first of shape %s)",
                     c->name, what, c->n, AG__SHAPE(s1, inputs[0]));
            return NULL;
        }
        if (!(ones[0] = ag_ones(c->ctx, (ag_dtype)inputs[0]->dtype, inputs[0]->ndim, inputs[0]->shape))) return NULL;
        d = ones;
    }
    for (i = 0; i < c->n; i++) if (ag__fn_check_shape(c, what, i, d[i], inputs[i]) != 0) return NULL;
    return d;
}
static int ag__jvp_impl(ag__fn_call *c, ag_fn f, void *user, ag_tensor *const *inputs, ag_tensor *const *u,
                        ag_tensor **output, ag_tensor **jvp) {
    ag_tensor *out, *ones[1];
    ag_tensor *const *uu = ag__fn_direction(c, "u", inputs, u, ones);
    if (!uu) return -1;
    c->tangents = uu;
    if (!(out = ag__fn_run(c, f, user, inputs))) return -1;
    *jvp = out->tangent ? out->tangent : ag_zeros(c->ctx, (ag_dtype)out->dtype, out->ndim, out->shape);
    if (!(*jvp = ag__fn_result(c, *jvp))) return -1;
    if (output && !(*output = ag__fn_result(c, out))) return -1;
    return 0;
}

/* jac[i] = d f / d inputs[i] by forward mode: column k is the tangent of f for a one-hot tangent
   on element k of input i */
static int ag__jacobian_fwd_impl(ag__fn_call *c, ag_fn f, void *user, ag_tensor *const *inputs, ag_tensor **jac) {
    ag_ctx *ctx = c->ctx;
    ag_tensor *tan[AG_FUNCTIONAL_MAX_INPUTS], *out;
    int64_t sh[AG_MAX_DIMS], k, r, m;
    int i, d, yn;
    char s1[200], s2[200];
    for (i = 0; i < c->n; i++) tan[i] = NULL;
    c->tangents = tan;   /* inputs without requires_grad: no reverse graph is recorded */
    if (!(out = ag__fn_run(c, f, user, inputs))) return -1;   /* the output's shape */
    yn = out->ndim;
    for (d = 0; d < yn; d++) sh[d] = out->shape[d];
    for (i = 0; i < c->n; i++)   /* before any column: out lives in scratch that the columns give back */
        if (yn + inputs[i]->ndim > AG_MAX_DIMS) {
            ag__fail(ctx, "%s: the result for input %d would have shape %s + %s, more than %d dims", c->name, i,
                     AG__SHAPE(s1, out), AG__SHAPE(s2, inputs[i]), AG_MAX_DIMS);
            return -1;
        }
    for (i = 0; i < c->n; i++) {
        ag_tensor *x = inputs[i], **cols = NULL;
        for (d = 0; d < x->ndim; d++) sh[yn + d] = x->shape[d];
        m = x->numel;
        if (c->create_graph) { if (!(cols = ag__ptr_alloc(ctx, m))) return -1; }
        else if (!(jac[i] = ag_zeros(ctx, (ag_dtype)x->dtype, yn + x->ndim, sh))) return -1;
        for (k = 0; k < m; k++) {
            ag__mark mk = ag__arena_mark(ctx);
            ag_tensor *col;
            if (!(tan[i] = ag_zeros(ctx, (ag_dtype)x->dtype, x->ndim, x->shape))) return -1;
            ag__store(tan[i], k, 1.0);
            if (!(out = ag__fn_run(c, f, user, inputs))) return -1;
            if (out->ndim != yn || memcmp(out->shape, sh, sizeof(int64_t) * (size_t)yn) != 0) {
                ag__fail(ctx, "%s: the function returned shape %s, then %s", c->name, ag__shape_str(s1, sizeof s1, yn, sh), AG__SHAPE(s2, out));
                return -1;
            }
            col = out->tangent;
            if (c->create_graph) {
                if (!(cols[k] = col ? col : ag_zeros(ctx, (ag_dtype)out->dtype, out->ndim, out->shape))) return -1;
            } else if (col) {
                for (r = 0; r < col->numel; r++) ag__store(jac[i], r * m + k, ag__load(col, ag__offset(col, r)));   /* row-major r */
                ag__arena_release(ctx, mk);
            } else ag__arena_release(ctx, mk);
        }
        tan[i] = NULL;
        if (c->create_graph) {
            jac[i] = m ? ag_reshape(ag_to(ag_stack(cols, (int)m, yn), (ag_dtype)x->dtype), yn + x->ndim, sh)
                       : ag_zeros(ctx, (ag_dtype)x->dtype, yn + x->ndim, sh);
            if (!jac[i]) return -1;
        }
    }
    return 0;
}

static int ag__jacobian_impl(ag__fn_call *c, ag_fn f, void *user, ag_tensor *const *inputs, ag_tensor **jac) {
    ag_tensor *out = ag__fn_run(c, f, user, inputs);
    if (!out) return -1;
    return ag__fn_jac_rows(c, out, jac);
}

static int ag__hessian_impl(ag__fn_call *c, ag_fn f, void *user, ag_tensor *const *inputs, ag_tensor **hess) {
    ag_tensor *out = ag__fn_run(c, f, user, inputs), *g[AG_FUNCTIONAL_MAX_INPUTS];
    int i;
    if (!out || ag__fn_check_scalar(c, out) != 0) return -1;
    if (ag__fn_grads(c, out, NULL, true, c->n, c->x, g) != 0) return -1;   /* the gradient, recorded */
    for (i = 0; i < c->n; i++)   /* row block i: the Jacobian of g[i] */
        if (ag__fn_jac_rows(c, g[i], hess + (size_t)i * (size_t)c->n) != 0) return -1;
    return 0;
}

static int ag__hvp_impl(ag__fn_call *c, ag_fn f, void *user, ag_tensor *const *inputs, ag_tensor *const *v,
                        ag_tensor **output, ag_tensor **hvps) {
    ag_tensor *out, *g[AG_FUNCTIONAL_MAX_INPUTS], *s, *ones[1], *const *vv = ag__fn_direction(c, "v", inputs, v, ones);
    bool ok;
    int i;
    if (!vv) return -1;
    if (!(out = ag__fn_run(c, f, user, inputs)) || ag__fn_check_scalar(c, out) != 0) return -1;
    if (ag__fn_grads(c, out, NULL, true, c->n, c->x, g) != 0) return -1;
    s = ag__fn_dot(c, g, vv, &ok);   /* H v = d <grad f, v> / d x */
    if (!ok) return -1;
    if (!s) { for (i = 0; i < c->n; i++) if (!(hvps[i] = ag__fn_zeros_like(c->ctx, c->x[i], (ag_dtype)c->x[i]->dtype))) return -1; }
    else if (ag__fn_grads(c, s, NULL, c->create_graph, c->n, c->x, hvps) != 0) return -1;
    for (i = 0; i < c->n; i++) if (!(hvps[i] = ag__fn_result(c, hvps[i]))) return -1;
    if (output && !(*output = ag__fn_result(c, out))) return -1;
    return 0;
}

static void ag__fn_clear(ag_tensor **r, size_t n) { size_t i; if (r) for (i = 0; i < n; i++) r[i] = NULL; }

/* restores the caller's grad mode; on error every result is NULL */
static int ag__fn_finish(ag_ctx *ctx, bool prev, int rc, ag_tensor **res, size_t nres, ag_tensor **output) {
    ag_set_grad_enabled(ctx, prev);
    if (rc == 0) return 0;
    ag__fn_clear(res, nres);
    ag__fn_clear(output, 1);
    return -1;
}

/* the start of every entry point: checks the arguments, sets the output and the nres results
   to NULL (the results only once n is known to be valid, unless nres is 1), refuses to run
   inside a capture when what is not NULL, and turns grad mode on; 0 with *prev set, or -1 */
static int ag__fn_enter(ag__fn_call *c, const char *name, ag_ctx *ctx, ag_fn f, int n, ag_tensor *const *inputs,
                        bool create_graph, ag_tensor **res, const char *res_name, size_t nres, ag_tensor **output,
                        const char *what, bool *prev) {
    if (output) *output = NULL;
    if (res && nres == 1) *res = NULL;
    if (ag__fn_begin(c, name, ctx, f, n, inputs, create_graph) != 0) return -1;
    if (!res) { ag__fail(ctx, "%s: %s is NULL", name, res_name); return -1; }
    if (what && !ag__not_capturing(ctx, name, what)) return -1;   /* written element by element */
    ag__fn_clear(res, nres);
    *prev = ag_set_grad_enabled(ctx, true);
    return 0;
}

AG_API int ag_vjp(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs, ag_tensor *v,
                  ag_tensor **output, ag_tensor **vjps, bool create_graph) { v = ag__arg(v);
    ag__fn_call c;
    bool prev;
    if (ag__fn_enter(&c, "vjp", ctx, f, n, inputs, create_graph, vjps, "vjps", (size_t)n, output, NULL, &prev) != 0) return -1;
    return ag__fn_finish(ctx, prev, ag__vjp_impl(&c, f, user, inputs, v, output, vjps), vjps, (size_t)n, output);
}

AG_API int ag_jvp(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs, ag_tensor *const *u,
                  ag_tensor **output, ag_tensor **jvp, bool create_graph) {
    ag__fn_call c;
    bool prev;
    if (ag__fn_enter(&c, "jvp", ctx, f, n, inputs, create_graph, jvp, "jvp", 1, output, NULL, &prev) != 0) return -1;
    return ag__fn_finish(ctx, prev, ag__jvp_impl(&c, f, user, inputs, u, output, jvp), jvp, 1, output);
}

/* ag_jacobian (reverse mode) and ag_jacobian_fwd */
static int ag__jacobian_call(const char *name, bool forward, ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs,
                             ag_tensor **jac, bool create_graph) {
    ag__fn_call c;
    bool prev;
    if (ag__fn_enter(&c, name, ctx, f, n, inputs, create_graph, jac, "jac", (size_t)n, NULL, "a Jacobian", &prev) != 0) return -1;
    return ag__fn_finish(ctx, prev, forward ? ag__jacobian_fwd_impl(&c, f, user, inputs, jac) : ag__jacobian_impl(&c, f, user, inputs, jac),
                         jac, (size_t)n, NULL);
}
AG_API int ag_jacobian(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs, ag_tensor **jac, bool create_graph) {
    return ag__jacobian_call("jacobian", false, ctx, f, user, n, inputs, jac, create_graph);
}
AG_API int ag_jacobian_fwd(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs, ag_tensor **jac, bool create_graph) {
    return ag__jacobian_call("jacobian_fwd", true, ctx, f, user, n, inputs, jac, create_graph);
}

AG_API int ag_hessian(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs,
                      ag_tensor **hess, bool create_graph) {
    ag__fn_call c;
    bool prev;
    if (ag__fn_enter(&c, "hessian", ctx, f, n, inputs, create_graph, hess, "hess", (size_t)n * (size_t)n, NULL, "a Hessian", &prev) != 0)
        return -1;
    return ag__fn_finish(ctx, prev, ag__hessian_impl(&c, f, user, inputs, hess), hess, (size_t)n * (size_t)n, NULL);
}

AG_API int ag_hvp(ag_ctx *ctx, ag_fn f, void *user, int n, ag_tensor *const *inputs, ag_tensor *const *v,
                  ag_tensor **output, ag_tensor **hvps, bool create_graph) {
    ag__fn_call c;
    bool prev;
    if (ag__fn_enter(&c, "hvp", ctx, f, n, inputs, create_graph, hvps, "hvps", (size_t)n, output, NULL, &prev) != 0) return -1;
    return ag__fn_finish(ctx, prev, ag__hvp_impl(&c, f, user, inputs, v, output, hvps), hvps, (size_t)n, output);
}

/* ---- per-example gradients of linear layers ---- */
AG_API int ag_per_example_linear_grads(ag_tensor *loss, int n, ag_tensor *const *xs, ag_tensor *const *ys,
                                       ag_tensor **dW, ag_tensor **db) { loss = ag__arg(loss);
    ag_ctx *ctx;
    ag_tensor *g[AG_FUNCTIONAL_MAX_INPUTS], *yy[AG_FUNCTIONAL_MAX_INPUTS], *seed = NULL;
    ag_backward_opts o;
    char s1[200], s2[200];
    bool prev;
    int i, rc = 0;
    if (!loss) return -1;
    ctx = loss->ctx;
    if (!ag__not_capturing(ctx, "per_example_linear_grads", "per-example gradients")) return -1;
    if (n < 1 || n > AG_FUNCTIONAL_MAX_INPUTS) {
        ag__fail(ctx, "per_example_linear_grads: need 1 to %d layers, got %d", AG_FUNCTIONAL_MAX_INPUTS, n);
        return -1;
    }
    if (!xs || !ys || !dW) { ag__fail(ctx, "per_example_linear_grads: %s is NULL", !xs ? "xs" : !ys ? "ys" : "dW"); return -1; }
    if (!ag__live_list("per_example_linear_grads", ctx, n, xs) || !ag__live_list("per_example_linear_grads", ctx, n, ys)) return -1;
    ag__fn_clear(dW, (size_t)n);
    ag__fn_clear(db, (size_t)n);
    for (i = 0; i < n; i++) {
        ag_tensor *x = xs[i], *y = ys[i];
        if (!x || !y) { ag__fail(ctx, "per_example_linear_grads: %s[%d] is NULL", !x ? "xs" : "ys", i); return -1; }
        if (x->ctx != ctx || y->ctx != ctx) { ag__fail(ctx, "per_example_linear_grads: layer %d belongs to another context", i); return -1; }
        if (x->ndim < 2 || y->ndim != x->ndim || y->shape[0] != x->shape[0] || y->numel == 0) {
            ag__fail(ctx, "per_example_linear_grads: layer %d: x %s and y %s must be [B, ..., in] and [B, ..., out]", i,
                     AG__SHAPE(s1, x), AG__SHAPE(s2, y));
            return -1;
        }
        {
            int d;
            for (d = 1; d < x->ndim - 1; d++) if (x->shape[d] != y->shape[d]) break;
            if (d < x->ndim - 1 || (i > 0 && x->shape[0] != xs[0]->shape[0])) {
                ag__fail(ctx, "per_example_linear_grads: layer %d: x %s and y %s do not share the batch dims of layer 0", i,
                         AG__SHAPE(s1, x), AG__SHAPE(s2, y));
                return -1;
            }
        }
        if (!(y->flags & AG__REQ_GRAD)) {
            ag__fail(ctx, "per_example_linear_grads: ys[%d] does not require grad (its weight must require grad)", i);
            return -1;
        }
        yy[i] = y;
    }
    prev = ag_set_grad_enabled(ctx, false);
    if (loss->numel != 1) seed = ag_ones(ctx, (ag_dtype)loss->dtype, loss->ndim, loss->shape);   /* the sum of the losses */
    memset(&o, 0, sizeof o);
    o.grad = seed; o.retain_graph = true;
    if ((loss->numel != 1 && !seed) || ag_grad_of(loss, &o, n, yy, g) != 0) rc = -1;
    for (i = 0; i < n && rc == 0; i++) {
        /* g [B, T, out], x [B, T, in]: dW_b = g_b^T x_b, db_b = sum_t g_bt */
        ag_tensor *x = xs[i];
        int64_t B = x->shape[0], xin = x->shape[x->ndim - 1], out = ys[i]->shape[ys[i]->ndim - 1];
        int64_t s3x[3], s3g[3];
        ag_tensor *g3, *x3;
        s3x[0] = B; s3x[1] = -1; s3x[2] = xin;
        s3g[0] = B; s3g[1] = -1; s3g[2] = out;
        g3 = ag_reshape(g[i], 3, s3g);
        x3 = ag_reshape(ag_detach(x), 3, s3x);
        dW[i] = ag_matmul(ag_transpose(g3, 1, 2), ag_to(x3, g3 ? (ag_dtype)g3->dtype : AG_F64));
        if (!dW[i]) rc = -1;
        if (db && rc == 0 && !(db[i] = ag_sum_dim(g3, 1, false))) rc = -1;
    }
    ag_set_grad_enabled(ctx, prev);
    if (rc != 0) { ag__fn_clear(dW, (size_t)n); ag__fn_clear(db, (size_t)n); }
    return rc;
}

/* ---- >>vmap: ag_vmap (the batched tensors themselves are in >>vmap near ag__finish) ---- */
static int ag__vmap_fail(ag_tensor **outputs, int n_out) {
    int j;
    for (j = 0; outputs && j < n_out; j++) outputs[j] = NULL;
    return -1;
}
AG_API int ag_vmap(ag_ctx *ctx, ag_vmap_fn f, void *user, int n_in, ag_tensor *const *inputs, const int *in_dims,
                   int n_out, ag_tensor **outputs, const int *out_dims) {
    ag_tensor *ins[AG_FUNCTIONAL_MAX_INPUTS], *outs[AG_FUNCTIONAL_MAX_INPUTS];
    int dims[AG_FUNCTIONAL_MAX_INPUTS], i, rc;
    int64_t B = -1;
    uint64_t failures;
    uint32_t id;
    char s1[200];
    if (!ctx) return ag__vmap_fail(outputs, n_out);
    if (n_out < 1 || n_out > AG_FUNCTIONAL_MAX_INPUTS || !outputs) {
        ag__fail(ctx, "vmap: n_out is %d (expected 1 to %d) or outputs is NULL", n_out, AG_FUNCTIONAL_MAX_INPUTS);
        return ag__vmap_fail(outputs, n_out > 0 && n_out <= AG_FUNCTIONAL_MAX_INPUTS ? n_out : 0);
    }
    ag__vmap_fail(outputs, n_out);
    if (!f) { ag__fail(ctx, "vmap: the function is NULL"); return -1; }
    if (n_in < 1 || n_in > AG_FUNCTIONAL_MAX_INPUTS || !inputs) {
        ag__fail(ctx, "vmap: n_in is %d (expected 1 to %d) or inputs is NULL", n_in, AG_FUNCTIONAL_MAX_INPUTS);
        return -1;
    }
    if (!ag__live_list("vmap", ctx, n_in, inputs)) return -1;
    for (i = 0; i < n_in; i++) {
        const ag_tensor *t = inputs[i];
        int d = in_dims ? in_dims[i] : 0;
        if (!t) { ag__fail(ctx, "vmap: input %d is NULL", i); return -1; }
        if (t->ctx != ctx) { ag__fail(ctx, "vmap: input %d belongs to another context", i); return -1; }
        dims[i] = d;
        if (d == AG_UNBATCHED) continue;
        if (t->ndim == 0) { ag__fail(ctx, "vmap: input %d is 0-d: it has no dim to map over (in_dims[%d] is %d; AG_UNBATCHED shares it)", i, i, d); return -1; }
        if (d < -t->ndim || d >= t->ndim) {
            ag__fail(ctx, "vmap: in_dims[%d] is %d, out of range for input %d %s (expected %d to %d, or AG_UNBATCHED)", i, d, i,
                     AG__SHAPE(s1, t), -t->ndim, t->ndim - 1);
            return -1;
        }
        dims[i] = d < 0 ? d + t->ndim : d;
        if (B >= 0 && t->shape[dims[i]] != B) {
            ag__fail(ctx, "vmap: input %d %s has %lld examples along dim %d, but the inputs before it have %lld", i, AG__SHAPE(s1, t),
                     (long long)t->shape[dims[i]], dims[i], (long long)B);
            return -1;
        }
        B = t->shape[dims[i]];
    }
    if (B < 0) { ag__fail(ctx, "vmap: no input is batched (every in_dims entry is AG_UNBATCHED)"); return -1; }
    if (B == 0) { ag__fail(ctx, "vmap: the batch is empty (0 examples)"); return -1; }
    if (ctx->vmap_depth == AG__VMAP_MAX) { ag__fail(ctx, "vmap: more than %d levels of ag_vmap", AG__VMAP_MAX); return -1; }
    if (!ag__not_capturing(ctx, "vmap", "ag_vmap")) return -1;
    id = ++ctx->vmap_ids;
    ctx->vmap_active[ctx->vmap_depth++] = id;
    failures = ctx->failures;
    for (i = 0; i < n_in; i++) ins[i] = dims[i] == AG_UNBATCHED ? inputs[i] : ag__vmap_in(inputs[i], id, dims[i]);
    for (i = 0; i < n_out; i++) outs[i] = NULL;
    rc = -1;
    for (i = 0; i < n_in && ins[i]; i++) {}
    if (i == n_in) {
        rc = f(ctx, ins, outs, user);
        if (rc != 0 && ctx->failures == failures) ag__fail(ctx, "vmap: the function returned %d", rc);
        if (ctx->failures != failures) rc = -1;   /* an error inside f fails the map, whatever f returned */
        for (i = 0; rc == 0 && i < n_out; i++) {
            int d = out_dims ? out_dims[i] : 0, nd;
            if (!outs[i] || outs[i]->ctx != ctx) {
                ag__fail(ctx, "vmap: the function left output %d %s", i, outs[i] ? "from another context" : "NULL");
                rc = -1;
                break;
            }
            nd = outs[i]->ndim + 1;
            if (d < -nd || d >= nd) {
                ag__fail(ctx, "vmap: out_dims[%d] is %d, out of range for output %d %s with its batch dim (expected %d to %d)", i, d, i,
                         AG__SHAPE(s1, outs[i]), -nd, nd - 1);
                rc = -1;
                break;
            }
            if (!(outputs[i] = ag__vmap_out(outs[i], id, d < 0 ? d + nd : d, B))) rc = -1;
        }
    }
    ctx->vmap_depth--;
    return rc == 0 ? 0 : ag__vmap_fail(outputs, n_out);
}
#endif /* AG_NO_FUNCTIONAL */

#ifndef AG_NO_LAYERS
/* ==== >>layers ==== */
/* the first non-NULL tensor's context, for reporting a NULL argument */
static ag_ctx *ag__ly_ctx(ag_tensor *a, ag_tensor *b, ag_tensor *c) {
    return a ? ag_context(a) : b ? ag_context(b) : c ? ag_context(c) : NULL;
}

/* the window geometry of an x of shape d = [A, B, H, W] (OH, OW already known) */
static ag__win ag__ly_win(const int64_t *d, int kh, int kw, int sh, int sw, int dh, int dw, int ph, int pw, int64_t OH, int64_t OW, int at) {
    ag__win g;
    memset(&g, 0, sizeof g);
    g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw; g.dh = dh; g.dw = dw; g.ph = ph; g.pw = pw; g.at = at;
    g.A = d[0]; g.B = d[1]; g.H = d[2]; g.W = d[3]; g.OH = OH; g.OW = OW;
    return g;
}

AG_API ag_tensor *ag_conv2d(ag_tensor *x, ag_tensor *W, ag_tensor *b, const ag_conv2d_opts *opts) { ag__args(&x, &W, &b, NULL, NULL);
    static const int swap01[4] = { 1, 0, 2, 3 };
    char s1[200], s2[200];
    int sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, G = 1, kh, kw;
    int64_t N, C, H, Wd, O, Hp, Wp, ekh, ekw, OH, OW, shp[4];
    ag_tensor *y;
    ag_ctx *ctx = ag__ly_ctx(x, W, b);
    if (!x || !W) {
        if (ctx) ag__fail(ctx, "conv2d: argument %d (%s) is NULL", x ? 2 : 1, x ? "weight" : "input");
        return NULL;
    }
    if (ag_context(W) != ctx || (b && ag_context(b) != ctx)) { ag__fail(ctx, "conv2d: tensors belong to different contexts"); return NULL; }
    if (opts) {
        sh = opts->stride_h ? opts->stride_h : 1; sw = opts->stride_w ? opts->stride_w : 1;
        ph = opts->pad_h; pw = opts->pad_w;
        dh = opts->dil_h ? opts->dil_h : 1; dw = opts->dil_w ? opts->dil_w : 1;
        G = opts->groups ? opts->groups : 1;
    }
    if (ag_ndim(x) != 4) { ag__fail(ctx, "conv2d: input must be [N, C, H, W], got %s", ag__shape_str(s1, sizeof s1, ag_ndim(x), ag_shape(x))); return NULL; }
    if (ag_ndim(W) != 4) { ag__fail(ctx, "conv2d: weight must be [out_channels, in_channels/groups, kh, kw], got %s", ag__shape_str(s1, sizeof s1, ag_ndim(W), ag_shape(W))); return NULL; }
    if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0 || G < 1) {
        ag__fail(ctx, "conv2d: invalid options: stride (%d, %d) and dilation (%d, %d) must be >= 1, padding (%d, %d) >= 0, groups %d >= 1",
                 sh, sw, dh, dw, ph, pw, G);
        return NULL;
    }
    N = ag_dim(x, 0); C = ag_dim(x, 1); H = ag_dim(x, 2); Wd = ag_dim(x, 3);
    O = ag_dim(W, 0); kh = (int)ag_dim(W, 2); kw = (int)ag_dim(W, 3);
    ag__shape_str(s1, sizeof s1, 4, ag_shape(x));
    ag__shape_str(s2, sizeof s2, 4, ag_shape(W));
    if (C % G != 0 || O % G != 0) { ag__fail(ctx, "conv2d: input %s, weight %s: groups %d must divide in_channels %lld and out_channels %lld", s1, s2, G, (long long)C, (long long)O); return NULL; }
    if (ag_dim(W, 1) * G != C) {
        ag__fail(ctx, "conv2d: input %s, weight %s, groups %d: weight expects %lld input channels, the input has %lld",
                 s1, s2, G, (long long)(ag_dim(W, 1) * G), (long long)C);
        return NULL;
    }
    if (kh < 1 || kw < 1 || ag_dim(W, 2) > 1000000 || ag_dim(W, 3) > 1000000 || (int64_t)kh * kw > 1000000) {
        ag__fail(ctx, "conv2d: weight %s: kernel size must be between 1 and 1000000", s2);
        return NULL;
    }
    Hp = H + 2 * (int64_t)ph; Wp = Wd + 2 * (int64_t)pw;
    ekh = (int64_t)dh * (kh - 1) + 1; ekw = (int64_t)dw * (kw - 1) + 1;
    if (ekh > Hp || ekw > Wp) {
        ag__fail(ctx, "conv2d: input %s, weight %s: the kernel (%lld x %lld with dilation) is larger than the padded input (%lld x %lld)",
                 s1, s2, (long long)ekh, (long long)ekw, (long long)Hp, (long long)Wp);
        return NULL;
    }
    if (b && (ag_ndim(b) != 1 || ag_dim(b, 0) != O)) {
        ag__fail(ctx, "conv2d: bias %s does not match weight %s (expected [%lld])", ag__shape_str(s1, sizeof s1, ag_ndim(b), ag_shape(b)), s2, (long long)O);
        return NULL;
    }
    OH = (Hp - ekh) / sh + 1; OW = (Wp - ekw) / sw + 1;
    {   /* the windows [C, kh*kw, N, OH, OW] must be a shape at all */
        int64_t wsh[5], cnt;
        wsh[0] = C; wsh[1] = (int64_t)kh * kw; wsh[2] = N; wsh[3] = OH; wsh[4] = OW;
        if (!ag__numel_of(5, wsh, &cnt)) {
            ag__fail(ctx, "conv2d: input %s, weight %s, padding (%d, %d): the %lld x %lld output windows would have more than 2^48 elements",
                     s1, s2, ph, pw, (long long)OH, (long long)OW);
            return NULL;
        }
    }
    /* one product per group over the whole batch, its B made from x's windows in place (ag__conv_op):
       W2 [G, O/G, C/G kh kw] @ cols [G, C/G kh kw, N OH OW] = [G, O/G, N OH OW] = [O, N, OH, OW] */
    {
        int dt = ag__result_dtype(x, W);
        ag__win g;
        x = ag_to(x, (ag_dtype)dt);
        W = ag_to(W, (ag_dtype)dt);
        if (!x || !W) return NULL;
        shp[0] = C; shp[1] = N; shp[2] = H; shp[3] = Wd;   /* x seen as [C, N, H, W] */
        g = ag__ly_win(shp, kh, kw, sh, sw, dh, dw, ph, pw, OH, OW, 1);
        shp[0] = G; shp[1] = O / G; shp[2] = C / G * kh * kw;
        y = ag__conv_op(AG__OP_conv2d, ag_reshape(W, 3, shp), x, &g);
    }
    shp[0] = O; shp[1] = N; shp[2] = OH; shp[3] = OW;
    y = ag_reshape(y, 4, shp);                     /* [O, N, OH, OW] */
    if (b) { shp[0] = O; shp[1] = 1; shp[2] = 1; shp[3] = 1; y = ag_add(y, ag_reshape(b, 4, shp)); }
    return ag_permute(y, swap01);                  /* [N, O, OH, OW], a view */
}

/* ---- max pooling: the argmax of each window, then a gather (take) of x ----
   Its backward is then one scatter of the gradient (put_add), where the windows' max over an
   unfolded copy needed a mask, a count, a division and a fold; the gradient goes to the first of
   equal maxima (and to the last NaN), as PyTorch's. Used when every window holds an element of x. */
typedef struct { int kh, kw, sh, sw, ph, pw, dh, dw; int64_t OH, OW; } ag__pool_geo;
static bool ag__pool_full(const ag__pool_geo *g, int64_t H, int64_t W) {   /* no window only padding */
    int64_t o, a, b;
    for (o = 0; o < g->OH; o++) { ag__pool_span(o * g->sh - g->ph, g->dh, H, g->kh, &a, &b); if (a >= b) return false; }
    for (o = 0; o < g->OW; o++) { ag__pool_span(o * g->sw - g->pw, g->dw, W, g->kw, &a, &b); if (a >= b) return false; }
    return true;
}
static ag_tensor *ag__max_pool_take(ag_tensor *x, const ag__pool_geo *g) {
    int64_t sh4[4], f3[3], i3[3];
    ag_tensor *idx;
    if (!(x = ag_contiguous(x))) return NULL;
    sh4[0] = f3[0] = i3[0] = x->shape[0]; sh4[1] = f3[1] = i3[1] = x->shape[1]; sh4[2] = g->OH; sh4[3] = g->OW;
    f3[2] = x->shape[2] * x->shape[3]; i3[2] = g->OH * g->OW;
    if (!(idx = ag__result_raw(x->ctx, AG__IDX, 4, sh4, 1))) return NULL;
    idx->ip[0] = g->kh | (int64_t)g->kw << 32; idx->ip[1] = g->sh | (int64_t)g->sw << 32; idx->ip[2] = g->ph | (int64_t)g->pw << 32;
    idx->fp[0] = g->dh; idx->fp[1] = g->dw;
    ag__pool_argmax_run(idx, x);
    idx = ag__finish1(idx, AG__OP_pool_argmax, x);   /* never recorded (no gradient): it keeps x for replay */
    return ag_reshape(ag__take(AG__OP_take, ag_reshape(x, 3, f3), ag_reshape(idx, 3, i3), 2, NULL), 4, sh4);
}
static ag_tensor *ag__ly_pool(const char *op, bool is_max, ag_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw) {
    char s[200];
    int64_t H, Wd, OH, OW;
    ag_tensor *w;
    ag_ctx *ctx;
    if (!x) return NULL;
    ctx = ag_context(x);
    if (ag_ndim(x) != 4) { ag__fail(ctx, "%s: input must be [N, C, H, W], got %s", op, ag__shape_str(s, sizeof s, ag_ndim(x), ag_shape(x))); return NULL; }
    ag__shape_str(s, sizeof s, 4, ag_shape(x));
    if (sh == 0) sh = kh;
    if (sw == 0) sw = kw;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || (int64_t)kh * kw > 1000000) {
        ag__fail(ctx, "%s: input %s: invalid kernel (%d, %d), stride (%d, %d) or padding (%d, %d)", op, s, kh, kw, sh, sw, ph, pw);
        return NULL;
    }
    if (2 * (int64_t)ph > kh || 2 * (int64_t)pw > kw) {
        ag__fail(ctx, "%s: input %s: padding (%d, %d) must be at most half the kernel (%d, %d)", op, s, ph, pw, kh, kw);
        return NULL;
    }
    H = ag_dim(x, 2) + 2 * (int64_t)ph; Wd = ag_dim(x, 3) + 2 * (int64_t)pw;
    if (kh > H || kw > Wd) {
        ag__fail(ctx, "%s: input %s: the kernel (%d, %d) is larger than the padded input (%lld, %lld)", op, s, kh, kw, (long long)H, (long long)Wd);
        return NULL;
    }
    OH = (H - kh) / sh + 1; OW = (Wd - kw) / sw + 1;
    if (is_max && ag_numel(x) > 0) {
        ag__pool_geo g;
        g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw; g.dh = g.dw = 1; g.OH = OH; g.OW = OW;
        if (ag__pool_full(&g, ag_dim(x, 2), ag_dim(x, 3))) return ag__max_pool_take(x, &g);
    }
    {   /* the windows [N, C, kh*kw, OH, OW]; max pads with -inf */
        ag__win g = ag__ly_win(ag_shape(x), kh, kw, sh, sw, 1, 1, ph, pw, OH, OW, 2);
        w = ag__unfold(x, &g, is_max ? -HUGE_VAL : 0.0);
    }
    if (w && ag_numel(w) == 0) return ag_sum_dim(w, 2, false);   /* an empty batch: an empty result (max_dim refuses) */
    return is_max ? ag_max_dim(w, 2, false) : ag_mean_dim(w, 2, false);
}
AG_API ag_tensor *ag_max_pool2d(ag_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw) { x = ag__arg(x);
    return ag__ly_pool("max_pool2d", true, x, kh, kw, sh, sw, ph, pw);
}
AG_API ag_tensor *ag_avg_pool2d(ag_tensor *x, int kh, int kw, int sh, int sw, int ph, int pw) { x = ag__arg(x);
    return ag__ly_pool("avg_pool2d", false, x, kh, kw, sh, sw, ph, pw);
}

/* checks that a per-channel tensor is [C] */
static bool ag__ly_chan(ag_ctx *ctx, const char *op, const char *what, ag_tensor *t, ag_tensor *x, int64_t C) {
    char s1[200], s2[200];
    if (!t) return true;
    if (ag_context(t) != ctx) { ag__fail(ctx, "%s: %s belongs to a different context", op, what); return false; }
    if (ag_ndim(t) != 1 || ag_dim(t, 0) != C) {
        ag__fail(ctx, "%s: %s %s does not match input %s (expected [%lld])", op, what, ag__shape_str(s1, sizeof s1, ag_ndim(t), ag_shape(t)),
                 ag__shape_str(s2, sizeof s2, ag_ndim(x), ag_shape(x)), (long long)C);
        return false;
    }
    return true;
}

/* [C] -> [1, C, 1, ...] with nd dims, to broadcast against x */
static ag_tensor *ag__ly_bchan(ag_tensor *t, int nd) {
    int64_t sh[AG_MAX_DIMS];
    int i;
    if (!t) return NULL;
    for (i = 0; i < nd; i++) sh[i] = 1;
    sh[1] = ag_dim(t, 0);
    return ag_reshape(t, nd, sh);
}

/* r = (1 - m) r + m s, written into r's storage (any dtype and stride) */
static void ag__ly_update_stat(ag_tensor *r, const double *s, double m) {
    int64_t c, C = ag_dim(r, 0), st = ag_strides(r)[0];
    for (c = 0; c < C; c++) {
        if (ag_type(r) == AG_F32) { float *p = (float *)ag_data(r) + c * st; *p = (float)((1.0 - m) * (double)*p + m * s[c]); }
        else { double *p = (double *)ag_data(r) + c * st; *p = (1.0 - m) * *p + m * s[c]; }
    }
}

AG_API ag_tensor *ag_batch_norm(ag_tensor *x, ag_tensor *w, ag_tensor *b, ag_tensor *rm, ag_tensor *rv, bool training,
                                double momentum, double eps) { ag__args(&x, &w, &b, &rm, &rv);
    const char *op = "batch_norm";
    char s[200];
    int nd, d;
    int64_t C, count;
    ag_tensor *y, *mean, *var, *xc;
    ag_ctx *ctx;
    if (!x) {
        ctx = ag__ly_ctx(w, b, rm ? rm : rv);
        if (ctx) ag__fail(ctx, "batch_norm: argument 1 (input) is NULL");
        return NULL;
    }
    ctx = ag_context(x);
    nd = ag_ndim(x);
    if (nd < 2) { ag__fail(ctx, "batch_norm: input must be [N, C, ...] with at least 2 dims, got %s", ag__shape_str(s, sizeof s, nd, ag_shape(x))); return NULL; }
    C = ag_dim(x, 1);
    if (!ag__ly_chan(ctx, op, "weight", w, x, C) || !ag__ly_chan(ctx, op, "bias", b, x, C) ||
        !ag__ly_chan(ctx, op, "running_mean", rm, x, C) || !ag__ly_chan(ctx, op, "running_var", rv, x, C))
        return NULL;
    if ((rm && ag_requires_grad(rm)) || (rv && ag_requires_grad(rv))) {
        ag__fail(ctx, "batch_norm: running_mean and running_var must not require grad (make them with ag_persistent)");
        return NULL;
    }
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1)) { ag__fail(ctx, "batch_norm: eps %g must be >= 0 and momentum %g in [0, 1]", eps, momentum); return NULL; }
    if (!training) {
        if (!rm || !rv) { ag__fail(ctx, "batch_norm: evaluation (training = false) needs running_mean and running_var"); return NULL; }
        y = ag_mul(ag_sub(x, ag__ly_bchan(rm, nd)), ag_pow(ag_add_scalar(ag__ly_bchan(rv, nd), eps), -0.5));
    } else {
        count = C ? ag_numel(x) / C : 0;
        if (count <= 1) {
            ag__fail(ctx, "batch_norm: input %s: training needs more than 1 value per channel", ag__shape_str(s, sizeof s, nd, ag_shape(x)));
            return NULL;
        }
        mean = x;
        for (d = 0; d < nd; d++) if (d != 1) mean = ag_mean_dim(mean, d, true);   /* [1, C, 1, ...] */
        xc = ag_sub(x, mean);
        var = ag_mul(xc, xc);
        for (d = 0; d < nd; d++) if (d != 1) var = ag_mean_dim(var, d, true);     /* biased */
        y = ag_mul(xc, ag_pow(ag_add_scalar(var, eps), -0.5));
        if (y && rm && rv) {   /* running statistics, outside the graph */
            if (!ag__not_capturing(ctx, "batch_norm", "updating the running statistics (pass NULL running_mean and running_var)")) return NULL;
            double *v = (double *)ag__arena_alloc(ctx, sizeof(double) * (size_t)(C ? C : 1), 16);   /* no F64 tensor: AG_NO_F64 */
            int64_t c;
            if (!v) return NULL;
            for (c = 0; c < C; c++) v[c] = ag__load(mean, ag__offset(mean, c));
            ag__ly_update_stat(rm, v, momentum);
            for (c = 0; c < C; c++) v[c] = ag__load(var, ag__offset(var, c)) * ((double)count / (double)(count - 1));   /* unbiased */
            ag__ly_update_stat(rv, v, momentum);
        }
    }
    if (w) y = ag_mul(y, ag__ly_bchan(w, nd));
    if (b) y = ag_add(y, ag__ly_bchan(b, nd));
    return y;
}

AG_API ag_tensor *ag_embedding(ag_tensor *weight, int ndim, const int64_t *shape, const int32_t *index) { weight = ag__arg(weight);
    char s[200];
    int64_t sh[AG_MAX_DIMS], n = 1, i;
    int d;
    ag_ctx *ctx;
    if (!weight) return NULL;
    ctx = ag_context(weight);
    if (ag_ndim(weight) != 2) { ag__fail(ctx, "embedding: weight must be [num_embeddings, dim], got %s", ag__shape_str(s, sizeof s, ag_ndim(weight), ag_shape(weight))); return NULL; }
    if (ndim < 0 || ndim > AG_MAX_DIMS - 1 || (ndim > 0 && !shape)) { ag__fail(ctx, "embedding: index ndim %d must be 0 to %d, with a shape", ndim, AG_MAX_DIMS - 1); return NULL; }
    for (d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && n > ((int64_t)1 << 40) / shape[d])) { ag__fail(ctx, "embedding: invalid index shape %s", ag__shape_str(s, sizeof s, ndim, shape)); return NULL; }
        n *= shape[d];
        sh[d] = shape[d];
    }
    if (n > 0 && !index) { ag__fail(ctx, "embedding: index is NULL"); return NULL; }
    for (i = 0; i < n; i++)
        if (index[i] < 0 || index[i] >= ag_dim(weight, 0)) {
            ag__fail(ctx, "embedding: index %d at position %lld is out of range for weight %s", (int)index[i], (long long)i,
                     ag__shape_str(s, sizeof s, 2, ag_shape(weight)));
            return NULL;
        }
    sh[ndim] = ag_dim(weight, 1);
    return ag_reshape(ag_gather_rows(weight, n, index), ndim + 1, sh);
}

/* ---- more layers: pools with every option, adaptive pools, conv1d, transposed convolutions,
   group / instance norm, scaled dot-product attention, interpolation ---- */
/* the divisor of each avg-pool window (output oh of size OH along a dim of size n): its positions
   inside the input (exclude_pad) or inside the input and its padding, at most k (PyTorch's) */
static int64_t ag__pool_count(int64_t o, int64_t n, int k, int s, int p, int d, bool exclude_pad) {
    int64_t start = o * s - p, lo = exclude_pad ? 0 : -p, hi = exclude_pad ? n : n + p, c = 0, i;
    for (i = 0; i < k; i++) { int64_t at = start + (int64_t)i * d; if (at >= lo && at < hi) c++; }
    return c;
}
static int64_t ag__pool_out(int64_t n, int k, int s, int p, int d, bool ceil_mode) {   /* PyTorch's output size */
    int64_t span = n + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1, o;
    if (span < 0) return -1;
    o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= n + p) o--;   /* the last window must start inside the input or its left padding */
    return o;
}
static ag_tensor *ag__pool_ex(const char *op, bool is_max, ag_tensor *x, const ag_pool2d_opts *o) {
    char s[200];
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t OH, OW;
    ag_tensor *w, *y;
    ag_ctx *ctx;
    if (!x) return NULL;
    ctx = x->ctx;
    if (!o) { ag__fail(ctx, "%s: opts is NULL (set at least kh and kw)", op); return NULL; }
    if (x->ndim != 4) { ag__fail(ctx, "%s: input must be [N, C, H, W], got %s", op, AG__SHAPE(s, x)); return NULL; }
    kh = o->kh; kw = o->kw; sh = o->stride_h ? o->stride_h : kh; sw = o->stride_w ? o->stride_w : kw;
    ph = o->pad_h; pw = o->pad_w; dh = o->dil_h ? o->dil_h : 1; dw = o->dil_w ? o->dil_w : 1;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || dh < 1 || dw < 1 || (int64_t)kh * kw > 1000000 || dh > 1000000 || dw > 1000000 ||
        2 * (int64_t)ph > kh || 2 * (int64_t)pw > kw || (!is_max && (dh != 1 || dw != 1))) {
        ag__fail(ctx, "%s: input %s: invalid kernel (%d, %d), stride (%d, %d), padding (%d, %d) (at most half the kernel) or dilation (%d, %d)%s",
                 op, AG__SHAPE(s, x), kh, kw, sh, sw, ph, pw, dh, dw, is_max ? "" : " (avg pools have none)");
        return NULL;
    }
    OH = ag__pool_out(x->shape[2], kh, sh, ph, dh, o->ceil_mode);
    OW = ag__pool_out(x->shape[3], kw, sw, pw, dw, o->ceil_mode);
    if (OH < 1 || OW < 1) { ag__fail(ctx, "%s: input %s: the kernel (%d, %d) with dilation is larger than the padded input", op, AG__SHAPE(s, x), kh, kw); return NULL; }
    if (is_max && x->numel > 0) {
        ag__pool_geo g;
        g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw; g.dh = dh; g.dw = dw; g.OH = OH; g.OW = OW;
        if (ag__pool_full(&g, x->shape[2], x->shape[3])) return ag__max_pool_take(x, &g);
    }
    {   /* the windows [N, C, kh*kw, OH, OW]; max pads with -inf (and past the end in ceil mode) */
        ag__win g = ag__ly_win(ag_shape(x), kh, kw, sh, sw, dh, dw, ph, pw, OH, OW, 2);
        w = ag__unfold(x, &g, is_max ? -HUGE_VAL : 0.0);
    }
    if (w && ag_numel(w) == 0) return ag_sum_dim(w, 2, false);
    if (is_max) return ag_max_dim(w, 2, false);
    y = ag_sum_dim(w, 2, false);
    {   /* divided by each window's count: a constant [OH, OW] */
        int64_t cs[2], i, j;
        ag_tensor *cnt;
        cs[0] = OH; cs[1] = OW;
        if (!y || !(cnt = ag__result_raw(ctx, y->dtype, 2, cs, 0))) return NULL;
        for (i = 0; i < OH; i++)
            for (j = 0; j < OW; j++)
                ag__store(cnt, i * OW + j, 1.0 / (double)(ag__pool_count(i, x->shape[2], kh, sh, ph, 1, o->exclude_pad) *
                                                          ag__pool_count(j, x->shape[3], kw, sw, pw, 1, o->exclude_pad)));
        return ag_mul(y, cnt);
    }
}
AG_API ag_tensor *ag_max_pool2d_ex(ag_tensor *x, const ag_pool2d_opts *opts) { x = ag__arg(x); return ag__pool_ex("max_pool2d", true, x, opts); }
/* a 0-d I64 */
static ag_tensor *ag__int_scalar(ag_ctx *ctx, int64_t v) {
    ag_tensor *t = ag__result_raw(ctx, AG_I64, 0, NULL, 0);
    if (t) memcpy(t->data, &v, 8);
    return t;
}
/* where each maximum came from: h W + w in its channel's input plane (F64; PyTorch's return_indices).
   The window position k of the maximum (argmax: the first, or a NaN) is row k / kw and column k % kw. */
AG_API ag_tensor *ag_max_pool2d_indices(ag_tensor *x, const ag_pool2d_opts *o) { x = ag__arg(x);
    ag_tensor *y, *w, *k, *r, *c, *bh, *bw;
    int64_t OH, OW, i, s2[2];
    bool prev;
    if (!(y = ag__pool_ex("max_pool2d", true, x, o))) return NULL;   /* checks the arguments */
    OH = y->shape[2]; OW = y->shape[3];
    prev = ag_set_grad_enabled(x->ctx, false);
    {
        int kh = o->kh, kw = o->kw, sh = o->stride_h ? o->stride_h : kh, sw = o->stride_w ? o->stride_w : kw;
        int dh = o->dil_h ? o->dil_h : 1, dw = o->dil_w ? o->dil_w : 1;
        ag__win g = ag__ly_win(ag_shape(x), kh, kw, sh, sw, dh, dw, o->pad_h, o->pad_w, OH, OW, 2);
        w = ag__unfold(x, &g, -HUGE_VAL);
        k = w && ag_numel(w) ? ag_argmax(w, 2, false) : ag_zeros(x->ctx, AG__IDX, 4, y->shape);   /* [N, C, OH, OW] */
        r = ag_floor_divide(k, ag__int_scalar(x->ctx, kw));                                        /* integers: exact */
        c = ag_sub(k, ag_mul(r, ag__int_scalar(x->ctx, kw)));
        s2[0] = OH; s2[1] = 1;
        if (!(bh = ag__result_raw(x->ctx, AG__IDX, 2, s2, 0))) { ag_set_grad_enabled(x->ctx, prev); return NULL; }
        for (i = 0; i < OH; i++) ((ag__idx *)bh->data)[i] = (ag__idx)(i * sh - o->pad_h);
        s2[0] = OW;
        if (!(bw = ag__result_raw(x->ctx, AG__IDX, 1, s2, 0))) { ag_set_grad_enabled(x->ctx, prev); return NULL; }
        for (i = 0; i < OW; i++) ((ag__idx *)bw->data)[i] = (ag__idx)(i * sw - o->pad_w);
        r = ag_add(bh, ag_mul(r, ag__int_scalar(x->ctx, dh)));   /* the input row and column */
        c = ag_add(bw, ag_mul(c, ag__int_scalar(x->ctx, dw)));
        y = ag_add(ag_mul(r, ag__int_scalar(x->ctx, x->shape[3])), c);
    }
    ag_set_grad_enabled(x->ctx, prev);
    return y;
}
/* zeros [N, C, out_h, out_w] with x [N, C, H, W] written at the flat positions in indices (I64, x's
   shape, as ag_max_pool2d_indices gives them); the last of repeated positions wins */
AG_API ag_tensor *ag_max_unpool2d(ag_tensor *x, ag_tensor *indices, int64_t out_h, int64_t out_w) { x = ag__arg(x); indices = ag__index_arg(indices);
    char s1[200], s2[200];
    int64_t fx[3], fo[3], shp[4];
    ag_ctx *ctx = ag__ctx2("max_unpool2d", x, indices);
    if (!ctx) return NULL;
    if (x->ndim != 4 || !ag__same_shape(x, indices) || indices->dtype != AG__IDX) {
        ag__fail(ctx, "max_unpool2d: x %s must be [N, C, H, W] and indices %s the same shape, I64 (ag_max_pool2d_indices)", AG__SHAPE(s1, x), AG__SHAPE(s2, indices));
        return NULL;
    }
    if (out_h < 0 || out_w < 0 || out_h > ((int64_t)1 << 24) || out_w > ((int64_t)1 << 24)) { ag__fail(ctx, "max_unpool2d: output size (%lld, %lld) is out of range", (long long)out_h, (long long)out_w); return NULL; }
    fx[0] = fo[0] = x->shape[0]; fx[1] = fo[1] = x->shape[1]; fx[2] = x->shape[2] * x->shape[3]; fo[2] = out_h * out_w;
    shp[0] = x->shape[0]; shp[1] = x->shape[1]; shp[2] = out_h; shp[3] = out_w;
    return ag_reshape(ag__take(AG__OP_put, ag_reshape(x, 3, fx), ag_reshape(indices, 3, fx), 2, fo), 4, shp);
}
AG_API ag_tensor *ag_avg_pool2d_ex(ag_tensor *x, const ag_pool2d_opts *opts) { x = ag__arg(x); return ag__pool_ex("avg_pool2d", false, x, opts); }

/* adaptive pools: output cell i of n covers [floor(i H / n), ceil((i + 1) H / n)); separable, so
   rows first, then columns */
static ag_tensor *ag__adaptive(const char *op, bool is_max, ag_tensor *x, int64_t oh, int64_t ow) {
    char s[200];
    int d;
    if (!x) return NULL;
    if (x->ndim != 4 && x->ndim != 3) { ag__fail(x->ctx, "%s: input must be [N, C, H, W] or [C, H, W], got %s", op, AG__SHAPE(s, x)); return NULL; }
    if (oh < 1 || ow < 1 || oh > 65536 || ow > 65536) { ag__fail(x->ctx, "%s: output size (%lld, %lld) must be 1 to 65536", op, (long long)oh, (long long)ow); return NULL; }
    for (d = x->ndim - 2; x && d < x->ndim; d++) {
        int64_t n = x->shape[d], k = d == x->ndim - 2 ? oh : ow, i;
        ag_tensor **parts;
        if (n == 0) { ag__fail(x->ctx, "%s: input %s has an empty spatial dim", op, AG__SHAPE(s, x)); return NULL; }
        if (!(parts = ag__ptr_alloc(x->ctx, k))) return NULL;
        for (i = 0; i < k; i++) {
            int64_t a = i * n / k, b = ((i + 1) * n + k - 1) / k;
            ag_tensor *slab = ag_narrow(x, d, a, b - a);
            parts[i] = is_max ? ag_max_dim(slab, d, true) : ag_mean_dim(slab, d, true);
        }
        x = k == 1 ? parts[0] : ag_cat(parts, (int)k, d);
    }
    return x;
}
AG_API ag_tensor *ag_adaptive_avg_pool2d(ag_tensor *x, int64_t oh, int64_t ow) { x = ag__arg(x); return ag__adaptive("adaptive_avg_pool2d", false, x, oh, ow); }
AG_API ag_tensor *ag_adaptive_max_pool2d(ag_tensor *x, int64_t oh, int64_t ow) { x = ag__arg(x); return ag__adaptive("adaptive_max_pool2d", true, x, oh, ow); }

/* conv1d: conv2d on [N, C, 1, L] with a [O, C/g, 1, k] weight */
AG_API ag_tensor *ag_conv1d(ag_tensor *x, ag_tensor *W, ag_tensor *b, int stride, int padding, int dilation, int groups) { ag__args(&x, &W, &b, NULL, NULL);
    char s1[200], s2[200];
    ag_conv2d_opts o;
    ag_ctx *ctx = ag__ly_ctx(x, W, b);
    int64_t xs[4], ws[4];
    if (!x || !W) { if (ctx) ag__fail(ctx, "conv1d: argument %d (%s) is NULL", x ? 2 : 1, x ? "weight" : "input"); return NULL; }
    if (x->ndim != 3 || W->ndim != 3) {
        ag__fail(ctx, "conv1d: input %s must be [N, C, L] and weight %s [out_channels, in_channels/groups, k]", AG__SHAPE(s1, x), AG__SHAPE(s2, W));
        return NULL;
    }
    memset(&o, 0, sizeof o);
    o.stride_w = stride; o.pad_w = padding; o.dil_w = dilation; o.groups = groups;
    o.stride_h = 1; o.dil_h = 1;
    if (stride < 0 || dilation < 0) { ag__fail(ctx, "conv1d: stride %d and dilation %d must be >= 1 (0: 1)", stride, dilation); return NULL; }
    xs[0] = x->shape[0]; xs[1] = x->shape[1]; xs[2] = 1; xs[3] = x->shape[2];
    ws[0] = W->shape[0]; ws[1] = W->shape[1]; ws[2] = 1; ws[3] = W->shape[2];
    return ag_squeeze(ag_conv2d(ag_reshape(x, 4, xs), ag_reshape(W, 4, ws), b, &o), 2);
}

/* the transposed convolution (conv2d's adjoint in its input): x [N, Cin, H, W], W [Cin, Cout/g, kh, kw]
   (PyTorch's layout) -> [N, Cout, OH, OW], OH = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1.
   Per group: columns = W^T x, then fold adds every window back (ag__fold, unfold's adjoint). */
AG_API ag_tensor *ag_conv_transpose2d(ag_tensor *x, ag_tensor *W, ag_tensor *b, const ag_conv_transpose2d_opts *opts) { ag__args(&x, &W, &b, NULL, NULL);
    char s1[200], s2[200];
    int sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, oph = 0, opw = 0, G = 1, kh, kw, g;
    int64_t N, Cin, H, Wd, Cout, OH, OW, K, sz[5];
    ag_tensor *parts[64], *y;
    ag_ctx *ctx = ag__ly_ctx(x, W, b);
    if (!x || !W) { if (ctx) ag__fail(ctx, "conv_transpose2d: argument %d (%s) is NULL", x ? 2 : 1, x ? "weight" : "input"); return NULL; }
    if (ag_context(W) != ctx || (b && ag_context(b) != ctx)) { ag__fail(ctx, "conv_transpose2d: tensors belong to different contexts"); return NULL; }
    if (opts) {
        sh = opts->stride_h ? opts->stride_h : 1; sw = opts->stride_w ? opts->stride_w : 1;
        ph = opts->pad_h; pw = opts->pad_w; oph = opts->output_pad_h; opw = opts->output_pad_w;
        dh = opts->dil_h ? opts->dil_h : 1; dw = opts->dil_w ? opts->dil_w : 1;
        G = opts->groups ? opts->groups : 1;
    }
    if (x->ndim != 4 || W->ndim != 4) {
        ag__fail(ctx, "conv_transpose2d: input %s must be [N, C, H, W] and weight %s [in_channels, out_channels/groups, kh, kw]", AG__SHAPE(s1, x), AG__SHAPE(s2, W));
        return NULL;
    }
    N = x->shape[0]; Cin = x->shape[1]; H = x->shape[2]; Wd = x->shape[3];
    kh = (int)W->shape[2]; kw = (int)W->shape[3];
    if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0 || G < 1 || G > 64 || oph < 0 || opw < 0 || (oph >= sh && oph >= dh) || (opw >= sw && opw >= dw) ||
        W->shape[2] > 1000 || W->shape[3] > 1000 || sh > 100000 || sw > 100000 || dh > 100000 || dw > 100000 || ph > 100000 || pw > 100000) {
        ag__fail(ctx, "conv_transpose2d: invalid options: stride (%d, %d), dilation (%d, %d) >= 1, padding (%d, %d) >= 0, output padding (%d, %d) "
                 "below the stride or the dilation, groups %d from 1 to 64", sh, sw, dh, dw, ph, pw, oph, opw, G);
        return NULL;
    }
    if (Cin != W->shape[0] || Cin % G != 0) {
        ag__fail(ctx, "conv_transpose2d: input %s and weight %s: the weight's dim 0 must be the %lld input channels, a multiple of groups %d",
                 AG__SHAPE(s1, x), AG__SHAPE(s2, W), (long long)Cin, G);
        return NULL;
    }
    Cout = W->shape[1] * G;
    OH = (H - 1) * sh - 2 * (int64_t)ph + (int64_t)dh * (kh - 1) + oph + 1;
    OW = (Wd - 1) * sw - 2 * (int64_t)pw + (int64_t)dw * (kw - 1) + opw + 1;
    if (OH < 1 || OW < 1 || OH > ((int64_t)1 << 24) || OW > ((int64_t)1 << 24)) {
        ag__fail(ctx, "conv_transpose2d: input %s, weight %s: the output would be %lld x %lld", AG__SHAPE(s1, x), AG__SHAPE(s2, W), (long long)OH, (long long)OW);
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != Cout)) { ag__fail(ctx, "conv_transpose2d: bias %s must be [%lld]", AG__SHAPE(s1, b), (long long)Cout); return NULL; }
    K = (int64_t)kh * kw;
    for (g = 0; g < G; g++) {
        int64_t cg = Cin / G, og = W->shape[1];
        ag_tensor *xg = ag_narrow(x, 1, g * cg, cg), *wg = ag_narrow(W, 0, g * cg, cg), *cols;
        int64_t ws[3], xs[3], w2[2];
        int perm[3] = {2, 1, 0};
        ag__win geo;
        ws[0] = cg; ws[1] = og; ws[2] = K;
        w2[0] = K * og; w2[1] = cg;
        wg = ag_reshape(ag_permute(ag_reshape(ag_contiguous(wg), 3, ws), perm), 2, w2);   /* [K og, cg] */
        xs[0] = N; xs[1] = cg; xs[2] = H * Wd;
        cols = ag_matmul(wg, ag_reshape(ag_contiguous(xg), 3, xs));                                       /* [N, K og, H W] */
        sz[0] = N; sz[1] = K; sz[2] = og; sz[3] = H; sz[4] = Wd;
        memset(&geo, 0, sizeof geo);
        geo.kh = kh; geo.kw = kw; geo.sh = sh; geo.sw = sw; geo.dh = dh; geo.dw = dw; geo.ph = ph; geo.pw = pw; geo.at = 1;
        geo.A = N; geo.B = og; geo.H = OH; geo.W = OW; geo.OH = H; geo.OW = Wd;
        parts[g] = ag__fold(ag_reshape(cols, 5, sz), &geo);                                               /* [N, og, OH, OW] */
    }
    y = G == 1 ? parts[0] : ag_cat(parts, G, 1);
    if (b) { sz[0] = Cout; sz[1] = 1; sz[2] = 1; y = ag_add(y, ag_reshape(b, 3, sz)); }
    return y;
}
AG_API ag_tensor *ag_conv_transpose1d(ag_tensor *x, ag_tensor *W, ag_tensor *b, int stride, int padding, int output_padding, int dilation, int groups) {
    char s1[200], s2[200];
    ag_conv_transpose2d_opts o;
    int64_t xs[4], ws[4];
    ag_ctx *ctx;
    ag__args(&x, &W, &b, NULL, NULL);
    ctx = ag__ly_ctx(x, W, b);
    if (!x || !W) { if (ctx) ag__fail(ctx, "conv_transpose1d: argument %d (%s) is NULL", x ? 2 : 1, x ? "weight" : "input"); return NULL; }
    if (x->ndim != 3 || W->ndim != 3) {
        ag__fail(ctx, "conv_transpose1d: input %s must be [N, C, L] and weight %s [in_channels, out_channels/groups, k]", AG__SHAPE(s1, x), AG__SHAPE(s2, W));
        return NULL;
    }
    memset(&o, 0, sizeof o);
    o.stride_w = stride; o.pad_w = padding; o.output_pad_w = output_padding; o.dil_w = dilation; o.groups = groups;
    xs[0] = x->shape[0]; xs[1] = x->shape[1]; xs[2] = 1; xs[3] = x->shape[2];
    ws[0] = W->shape[0]; ws[1] = W->shape[1]; ws[2] = 1; ws[3] = W->shape[2];
    return ag_squeeze(ag_conv_transpose2d(ag_reshape(x, 4, xs), ag_reshape(W, 4, ws), b, &o), 2);
}

/* group norm: x [N, C, ...] normalised over each group of C / G channels and the rest (biased
   variance), then weight and bias [C] per channel; instance norm is one group per channel */
AG_API ag_tensor *ag_group_norm(ag_tensor *x, int groups, ag_tensor *w, ag_tensor *b, double eps) { ag__args(&x, &w, &b, NULL, NULL);
    char s[200];
    int64_t sh[3], cs[AG_MAX_DIMS];
    int k;
    ag_tensor *xg, *xc, *y;
    ag_ctx *ctx = ag__ly_ctx(x, w, b);
    if (!x) { if (ctx) ag__fail(ctx, "group_norm: the input is NULL"); return NULL; }
    if (x->ndim < 2 || groups < 1 || x->shape[1] % groups != 0) {
        ag__fail(ctx, "group_norm: input %s must be [N, C, ...] with C a multiple of groups %d", AG__SHAPE(s, x), groups);
        return NULL;
    }
    if (!(eps >= 0)) { ag__fail(ctx, "group_norm: eps must be >= 0, got %g", eps); return NULL; }
    if (!ag__ly_chan(ctx, "group_norm", "weight", w, x, x->shape[1]) || !ag__ly_chan(ctx, "group_norm", "bias", b, x, x->shape[1])) return NULL;
    sh[0] = x->shape[0]; sh[1] = groups; sh[2] = -1;
    if (x->numel == 0) return x;
    xg = ag_reshape(x, 3, sh);
    xc = ag_sub(xg, ag_mean_dim(xg, 2, true));
    y = ag_reshape(ag_mul(xc, ag_rsqrt(ag_add_scalar(ag_mean_dim(ag_square(xc), 2, true), eps))), x->ndim, x->shape);
    for (k = 0; k < x->ndim - 1; k++) cs[k] = k == 0 ? x->shape[1] : 1;   /* [C, 1, ...] along dim 1 */
    if (w) y = ag_mul(y, ag_reshape(w, x->ndim - 1, cs));
    if (b) y = ag_add(y, ag_reshape(b, x->ndim - 1, cs));
    return y;
}
AG_API ag_tensor *ag_instance_norm(ag_tensor *x, ag_tensor *w, ag_tensor *b, double eps) { ag__args(&x, &w, &b, NULL, NULL);
    if (x && x->ndim < 3) { char s[200]; ag__fail(x->ctx, "instance_norm: input must be [N, C, L, ...], got %s", AG__SHAPE(s, x)); return NULL; }
    if (x && x->shape[1] > INT_MAX) { ag__fail(x->ctx, "instance_norm: too many channels"); return NULL; }
    if (!x && (w || b)) { ag__fail((w ? w : b)->ctx, "instance_norm: the input is NULL"); return NULL; }
    return x ? ag_group_norm(x, (int)x->shape[1], w, b, eps) : NULL;
}

/* softmax(q k^T scale + mask) v over the last two dims: q [..., L, E], k [..., S, E], v [..., S, Ev] */
AG_API ag_tensor *ag_scaled_dot_product_attention(ag_tensor *q, ag_tensor *k, ag_tensor *v, const ag_sdpa_opts *opts) { ag__args(&q, &k, &v, NULL, NULL);
    char s1[200], s2[200], s3[200];
    ag_tensor *att, *mask = opts ? opts->attn_mask : NULL;
    double scale;
    int64_t L, S;
    ag_ctx *ctx = ag__ly_ctx(q, k, v);
    if (mask) mask = ag__arg(mask);
    if (!q || !k || !v) { if (ctx) ag__fail(ctx, "scaled_dot_product_attention: %s is NULL", !q ? "q" : !k ? "k" : "v"); return NULL; }
    if (k->ctx != ctx || v->ctx != ctx || (mask && mask->ctx != ctx)) { ag__fail(ctx, "scaled_dot_product_attention: tensors belong to different contexts"); return NULL; }
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2 || q->shape[q->ndim - 1] != k->shape[k->ndim - 1] || k->shape[k->ndim - 2] != v->shape[v->ndim - 2]) {
        ag__fail(ctx, "scaled_dot_product_attention: q %s, k %s, v %s must be [..., L, E], [..., S, E], [..., S, Ev]", AG__SHAPE(s1, q), AG__SHAPE(s2, k), AG__SHAPE(s3, v));
        return NULL;
    }
    L = q->shape[q->ndim - 2]; S = k->shape[k->ndim - 2];
    scale = opts && opts->scale != 0 ? opts->scale : 1.0 / sqrt((double)q->shape[q->ndim - 1]);
    if (!(scale == scale) || (opts && !(opts->dropout_p >= 0 && opts->dropout_p <= 1))) {
        ag__fail(ctx, "scaled_dot_product_attention: scale %g must be a number and dropout_p %g in [0, 1]", scale, opts ? opts->dropout_p : 0.0);
        return NULL;
    }
    att = ag_mul_scalar(ag_matmul(q, ag_transpose(k, -2, -1)), scale);   /* [..., L, S] */
    if (opts && opts->is_causal) {   /* -inf above the diagonal (entry (i, j) with j > i) */
        int64_t ms[2], i, j;
        ag_tensor *m;
        ms[0] = L; ms[1] = S;
        if (!(m = ag__result_raw(ctx, att ? (int)att->dtype : (int)AG_F32, 2, ms, 0))) return NULL;
        for (i = 0; i < L; i++) for (j = 0; j < S; j++) ag__store(m, i * S + j, j > i ? -HUGE_VAL : 0.0);
        att = ag_add(att, m);
    }
    if (mask) {
        if (opts->mask_keeps) {   /* PyTorch's boolean mask: nonzero = attend (+0), zero = masked (-inf): log(mask != 0) */
            bool prev = ag_set_grad_enabled(ctx, false);
            mask = ag_log(ag_rsub_scalar(ag__binary(AG__OP_eq_mask, mask, ag_zeros(ctx, (ag_dtype)mask->dtype, 0, NULL)), 1.0));
            ag_set_grad_enabled(ctx, prev);
        }
        att = ag_add(att, mask);
    }
    att = ag_softmax(att, -1);
    if (opts && opts->dropout_p > 0) att = ag_dropout(att, opts->dropout_p, true);
    return ag_matmul(att, v);
}

/* resampling [N, C, H, W] (or [N, C, L] along the last dim) to out_h x out_w: nearest (PyTorch's
   "nearest": source floor(i in / out)) or bilinear (align_corners: the corners' centres line up;
   else half-pixel centres, clamped at 0) */
static ag_tensor *ag__resample(ag_tensor *x, int dim, int64_t out, bool bilinear, bool align) {
    int64_t n = x->shape[dim], i, ish[AG_MAX_DIMS], esh[AG_MAX_DIMS];
    ag_tensor *i0, *i1 = NULL, *wt = NULL;
    int k;
    double scale = bilinear && align ? (out > 1 ? (double)(n - 1) / (double)(out - 1) : 0.0) : (double)n / (double)out;
    for (k = 0; k < x->ndim; k++) { ish[k] = k == dim ? out : 1; esh[k] = k == dim ? out : x->shape[k]; }
    if (!(i0 = ag__result_raw(x->ctx, AG__IDX, x->ndim, ish, 0))) return NULL;
    if (bilinear && (!(i1 = ag__result_raw(x->ctx, AG__IDX, x->ndim, ish, 0)) || !(wt = ag__result_raw(x->ctx, x->dtype, x->ndim, ish, 0)))) return NULL;
    for (i = 0; i < out; i++) {
        double src;
        int64_t a;
        if (!bilinear) { a = (int64_t)floor((double)i * scale); ((ag__idx *)i0->data)[i] = (ag__idx)(a < n - 1 ? a : n - 1); continue; }
        src = align ? (double)i * scale : ((double)i + 0.5) * scale - 0.5;
        if (src < 0) src = 0;
        a = (int64_t)floor(src);
        if (a > n - 1) a = n - 1;
        ((ag__idx *)i0->data)[i] = (ag__idx)a;
        ((ag__idx *)i1->data)[i] = (ag__idx)(a + 1 < n ? a + 1 : n - 1);
        ag__store(wt, i, src - (double)a);
    }
    i0 = ag_expand(i0, x->ndim, esh);
    if (!bilinear) return ag__take(AG__OP_take, x, i0, dim, NULL);
    {   /* x[i0] + w (x[i1] - x[i0]) */
        ag_tensor *a0 = ag__take(AG__OP_take, x, i0, dim, NULL), *a1 = ag__take(AG__OP_take, x, ag_expand(i1, x->ndim, esh), dim, NULL);
        return ag_add(a0, ag_mul(wt, ag_sub(a1, a0)));
    }
}
AG_API ag_tensor *ag_interpolate(ag_tensor *x, int64_t out_h, int64_t out_w, ag_interp_mode mode, bool align_corners) { x = ag__arg(x);
    char s[200];
    bool bil = mode == AG_INTERP_BILINEAR;
    if (!x) return NULL;
    if ((unsigned)mode > 1u) { ag__fail(x->ctx, "interpolate: unknown mode %d (AG_INTERP_NEAREST, AG_INTERP_BILINEAR)", (int)mode); return NULL; }
    if (x->ndim != 3 && x->ndim != 4) { ag__fail(x->ctx, "interpolate: input must be [N, C, L] or [N, C, H, W], got %s", AG__SHAPE(s, x)); return NULL; }
    if (out_w < 1 || out_w > ((int64_t)1 << 24) || (x->ndim == 4 && (out_h < 1 || out_h > ((int64_t)1 << 24)))) {
        ag__fail(x->ctx, "interpolate: output size (%lld, %lld) must be 1 to 2^24", (long long)out_h, (long long)out_w);
        return NULL;
    }
    if ((x->ndim == 4 && x->shape[2] == 0) || x->shape[x->ndim - 1] == 0) { ag__fail(x->ctx, "interpolate: input %s has an empty spatial dim", AG__SHAPE(s, x)); return NULL; }
    if (x->ndim == 4) x = ag__resample(x, 2, out_h, bil, align_corners);
    return x ? ag__resample(x, x->ndim - 1, out_w, bil, align_corners) : NULL;
}

/* the checks both cells make; the gate pre-activations x w_ih^T + b_ih and h w_hh^T + b_hh */
static bool ag__cell_args(const char *name, int G, ag_tensor *x, ag_tensor *h, ag_tensor *c, ag_tensor *w_ih, ag_tensor *w_hh,
                          ag_tensor *b_ih, ag_tensor *b_hh, ag_tensor **gx, ag_tensor **gh) {
    char s1[200], s2[200], s3[200];
    ag_tensor *all[7];
    ag_ctx *ctx = NULL;
    int64_t H, I;
    int i;
    all[0] = x; all[1] = h; all[2] = c; all[3] = w_ih; all[4] = w_hh; all[5] = b_ih; all[6] = b_hh;
    for (i = 0; i < 7 && !ctx; i++) if (all[i]) ctx = all[i]->ctx;
    if (!ctx) return false;
    for (i = 0; i < 5; i++) if (!all[i] && (i != 2 || G == 4)) {
        static const char *const what[5] = {"x", "h", "c", "w_ih", "w_hh"};
        ag__fail(ctx, "%s: %s is NULL", name, what[i]);
        return false;
    }
    for (i = 0; i < 7; i++) if (all[i] && all[i]->ctx != ctx) { ag__fail(ctx, "%s: tensors belong to different contexts", name); return false; }
    if (w_hh->ndim != 2 || w_hh->shape[0] != G * w_hh->shape[1] || w_ih->ndim != 2 || w_ih->shape[0] != w_hh->shape[0]) {
        ag__fail(ctx, "%s: w_ih %s and w_hh %s must be [%d H, I] and [%d H, H]", name, AG__SHAPE(s1, w_ih), AG__SHAPE(s2, w_hh), G, G);
        return false;
    }
    H = w_hh->shape[1]; I = w_ih->shape[1];
    if (x->ndim < 1 || x->ndim > 2 || x->shape[x->ndim - 1] != I || h->ndim != x->ndim || h->shape[h->ndim - 1] != H ||
        (x->ndim == 2 && h->shape[0] != x->shape[0]) || (c && !ag__same_shape(c, h))) {
        ag__fail(ctx, "%s: x %s, h %s%s%s do not fit weights for I = %lld, H = %lld (x [N, I] or [I], h%s [N, H] or [H])", name,
                 AG__SHAPE(s1, x), AG__SHAPE(s2, h), c ? ", c " : "", c ? AG__SHAPE(s3, c) : "", (long long)I, (long long)H, G == 4 ? " and c" : "");
        return false;
    }
    for (i = 5; i < 7; i++) if (all[i] && (all[i]->ndim != 1 || all[i]->shape[0] != G * H)) {
        ag__fail(ctx, "%s: %s %s must be [%lld]", name, i == 5 ? "b_ih" : "b_hh", AG__SHAPE(s1, all[i]), (long long)(G * H));
        return false;
    }
    *gx = ag_linear(x, w_ih, b_ih);
    *gh = ag_linear(h, w_hh, b_hh);
    return *gx && *gh;
}
AG_API int ag_lstm_cell(ag_tensor *x, ag_tensor *h, ag_tensor *c, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor *b_ih,
                        ag_tensor *b_hh, ag_tensor **h_out, ag_tensor **c_out) {
    ag_tensor *gx, *gh, *gates[4], *cn;
    ag__args(&x, &h, &c, &w_ih, &w_hh); ag__args(&b_ih, &b_hh, NULL, NULL, NULL);
    if (h_out) *h_out = NULL;
    if (c_out) *c_out = NULL;
    if (!ag__cell_args("lstm_cell", 4, x, h, c, w_ih, w_hh, b_ih, b_hh, &gx, &gh)) return -1;
    if (!h_out || !c_out) { ag__fail(x->ctx, "lstm_cell: h_out and c_out must not be NULL"); return -1; }
    if (ag_chunk(ag_add(gx, gh), 4, -1, gates) != 4) return -1;
    cn = ag_add(ag_mul(ag_sigmoid(gates[1]), c), ag_mul(ag_sigmoid(gates[0]), ag_tanh(gates[2])));   /* f c + i g */
    *h_out = ag_mul(ag_sigmoid(gates[3]), ag_tanh(cn));                                             /* o tanh(c') */
    *c_out = cn;
    return *h_out && cn ? 0 : -1;
}
AG_API ag_tensor *ag_gru_cell(ag_tensor *x, ag_tensor *h, ag_tensor *w_ih, ag_tensor *w_hh, ag_tensor *b_ih, ag_tensor *b_hh) {
    ag_tensor *gx, *gh, *a[3], *b[3], *r, *z, *n;
    ag__args(&x, &h, &w_ih, &w_hh, &b_ih); ag__args(&b_hh, NULL, NULL, NULL, NULL);
    if (!ag__cell_args("gru_cell", 3, x, h, NULL, w_ih, w_hh, b_ih, b_hh, &gx, &gh)) return NULL;
    if (ag_chunk(gx, 3, -1, a) != 3 || ag_chunk(gh, 3, -1, b) != 3) return NULL;
    r = ag_sigmoid(ag_add(a[0], b[0]));
    z = ag_sigmoid(ag_add(a[1], b[1]));
    n = ag_tanh(ag_add(a[2], ag_mul(r, b[2])));
    return ag_add(n, ag_mul(z, ag_sub(h, n)));   /* (1 - z) n + z h */
}

AG_API ag_tensor *ag_causal_self_attention(ag_tensor *x, ag_tensor *Wqkv, ag_tensor *bqkv, ag_tensor *Wo, ag_tensor *bo, int n_head) { ag__args(&x, &Wqkv, &bqkv, &Wo, &bo);
    const char *op = "causal_self_attention";
    char s1[200], s2[200];
    int64_t B, T, C, hd, sh[4], i, j;
    static const int perm[4] = { 0, 2, 1, 3 };   /* [B, T, H, hd] <-> [B, H, T, hd] */
    ag_tensor *qkv, *qkvh[3], *att, *mask, *y;
    ag_ctx *ctx = ag__ly_ctx(x, Wqkv, Wo);
    int k;
    if (!ctx) ctx = ag__ly_ctx(bqkv, bo, NULL);
    if (!x || !Wqkv || !Wo) {
        if (ctx) ag__fail(ctx, "%s: argument %d (%s) is NULL", op, !x ? 1 : !Wqkv ? 2 : 4, !x ? "x" : !Wqkv ? "Wqkv" : "Wo");
        return NULL;
    }
    if (ag_context(Wqkv) != ctx || ag_context(Wo) != ctx || (bqkv && ag_context(bqkv) != ctx) || (bo && ag_context(bo) != ctx)) {
        ag__fail(ctx, "%s: tensors belong to different contexts", op);
        return NULL;
    }
    ag__shape_str(s1, sizeof s1, ag_ndim(x), ag_shape(x));
    if (ag_ndim(x) != 3) { ag__fail(ctx, "%s: x must be [B, T, C], got %s", op, s1); return NULL; }
    B = ag_dim(x, 0); T = ag_dim(x, 1); C = ag_dim(x, 2);
    if (n_head < 1 || C % n_head != 0) { ag__fail(ctx, "%s: x %s: n_head %d must be >= 1 and divide C = %lld", op, s1, n_head, (long long)C); return NULL; }
    if (ag_ndim(Wqkv) != 2 || ag_dim(Wqkv, 0) != 3 * C || ag_dim(Wqkv, 1) != C) {
        ag__fail(ctx, "%s: x %s: Wqkv %s must be [3C, C] = [%lld, %lld]", op, s1, ag__shape_str(s2, sizeof s2, ag_ndim(Wqkv), ag_shape(Wqkv)), (long long)(3 * C), (long long)C);
        return NULL;
    }
    if (bqkv && (ag_ndim(bqkv) != 1 || ag_dim(bqkv, 0) != 3 * C)) {
        ag__fail(ctx, "%s: x %s: bqkv %s must be [3C] = [%lld]", op, s1, ag__shape_str(s2, sizeof s2, ag_ndim(bqkv), ag_shape(bqkv)), (long long)(3 * C));
        return NULL;
    }
    if (ag_ndim(Wo) != 2 || ag_dim(Wo, 0) != C || ag_dim(Wo, 1) != C) {
        ag__fail(ctx, "%s: x %s: Wo %s must be [C, C] = [%lld, %lld]", op, s1, ag__shape_str(s2, sizeof s2, ag_ndim(Wo), ag_shape(Wo)), (long long)C, (long long)C);
        return NULL;
    }
    if (bo && (ag_ndim(bo) != 1 || ag_dim(bo, 0) != C)) {
        ag__fail(ctx, "%s: x %s: bo %s must be [C] = [%lld]", op, s1, ag__shape_str(s2, sizeof s2, ag_ndim(bo), ag_shape(bo)), (long long)C);
        return NULL;
    }
    hd = C / n_head;
    qkv = ag_linear(x, Wqkv, bqkv);                                 /* [B, T, 3C] */
    for (k = 0; k < 3; k++) {                                       /* q, k, v: [B, H, T, hd] */
        sh[0] = B; sh[1] = T; sh[2] = n_head; sh[3] = hd;
        qkvh[k] = ag_permute(ag_reshape(ag_slice(qkv, 2, k * C, (k + 1) * C, 1), 4, sh), perm);
    }
    att = ag_mul_scalar(ag_matmul(qkvh[0], ag_transpose(qkvh[1], -1, -2)), 1.0 / sqrt((double)hd));   /* [B, H, T, T] */
    sh[0] = T; sh[1] = T;
    mask = att ? ag_zeros(ctx, ag_type(att), 2, sh) : NULL;          /* -inf above the diagonal */
    if (!mask) return NULL;
    for (i = 0; i < T; i++)
        for (j = i + 1; j < T; j++) {
            if (ag_type(mask) == AG_F32) ((float *)ag_data(mask))[i * T + j] = -HUGE_VALF;
            else ((double *)ag_data(mask))[i * T + j] = -HUGE_VAL;
        }
    att = ag_softmax(ag_add(att, mask), -1);
    y = ag_permute(ag_matmul(att, qkvh[2]), perm);                  /* [B, T, H, hd] */
    sh[0] = B; sh[1] = T; sh[2] = C;
    return ag_linear(ag_reshape(y, 3, sh), Wo, bo);
}
#endif /* AG_NO_LAYERS */

#if defined(__clang__)
#pragma STDC FP_CONTRACT DEFAULT
#endif
#ifdef AG__FAST_MATH_OFF
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#else
#pragma float_control(pop)
#endif
#endif
#endif /* AUTOGRAD_IMPLEMENTATION_DONE */
#endif /* AUTOGRAD_IMPLEMENTATION */

/*
MIT License

Copyright (c) 2026 the autograd.h developers

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
*/
