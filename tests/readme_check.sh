#!/usr/bin/env bash
# readme_check.sh - the README's C code compiles as shown, in C and in C++ (make check-header).
#
# Every ```c block of README.md: a whole program (one with main) is compiled, linked and run;
# a block that defines a static function (a line "static ...) {") is compiled as it is after the
# prelude; any other snippet is compiled inside a function, after a prelude that declares the names snippets
# use without defining them (ctx, W, x, model(), ...), with -Wall -Wextra -Werror in both
# languages. Usage: tests/readme_check.sh CC CXX
set -u
cc=${1:-cc}; cxx=${2:-c++}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk -v dir="$dir" '/^```c$/ { n++; f = sprintf("%s/block%02d.txt", dir, n); inb = 1; next }
                   /^```/ { inb = 0; next }
                   inb { print > f }' README.md
prelude='#include "autograd.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
/* names the snippets use, declared here as a reader would have them */
extern ag_ctx *ctx;
extern ag_tensor *a, *b, *W, *W1, *b1, *W2, *b2, *W3, *b3, *x, *x0, *dx, *h, *y, *loss, *logits, *zero, *scores, *mask;
extern ag_tensor *inputs[2], *v, *u[2], *out, *vjps[2], *jvp, *jac[2];
extern ag_optim *opt;
extern const int32_t *labels;
extern int total, n, frames;
extern int64_t xshape[2], tshape[2];
extern float observation[64], wanted[4];
extern void *user, *my_heap;
void *my_alloc(size_t size, void *user);
void my_free(void *ptr, void *user);
ag_tensor *model(ag_tensor *x);
ag_tensor *f(ag_ctx *ctx, ag_tensor **in, void *user);
ag_tensor *block_fn(ag_ctx *ctx, ag_tensor **in, void *user);
extern struct block_params { int layers; } block;
ag_tensor *lse_forward(ag_custom *c, ag_tensor **in, int n, void *user);
int lse_backward(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user);
int lse_jvp(ag_custom *c, ag_tensor *const *t, ag_tensor **out, void *user);'
bad=0; count=0
for f in "$dir"/block*.txt; do
  count=$((count + 1))
  name=$(basename "$f" .txt)
  if grep -q 'int main' "$f"; then
    cp "$f" "$dir/$name.c"
    for lang in c c++; do
      if [ $lang = c ]; then cmd="$cc -std=c99 -Wall -Wextra -Werror -I. -x c"; else cmd="$cxx -std=c++11 -Wall -Wextra -Werror -I. -x c++"; fi
      if ! $cmd "$dir/$name.c" -o "$dir/$name.$lang.bin" -lm -lpthread 2> "$dir/$name.err"; then
        echo "FAIL  README $name ($lang) does not compile:"; head -n 8 "$dir/$name.err" | sed 's/^/      /'; bad=$((bad + 1))
      elif ! "$dir/$name.$lang.bin" > /dev/null; then
        echo "FAIL  README $name ($lang) does not run"; bad=$((bad + 1))
      fi
    done
  elif grep -q '^static .*) {$' "$f"; then   # definitions at file scope (a function to pass to ag_vmap, ...)
    { printf '%s\n' "$prelude"; cat "$f"; } > "$dir/$name.c"
    for lang in c c++; do
      if [ $lang = c ]; then cmd="$cc -std=c99 -Wall -Wextra -Werror -I. -x c"; else cmd="$cxx -std=c++11 -Wall -Wextra -Werror -I. -x c++"; fi
      if ! $cmd -c "$dir/$name.c" -o /dev/null 2> "$dir/$name.err"; then
        echo "FAIL  README $name ($lang) does not compile:"; head -n 8 "$dir/$name.err" | sed 's/^/      /'; bad=$((bad + 1))
      fi
    done
  else
    { printf '%s\n' "$prelude"; printf 'void readme_%s(void);\nvoid readme_%s(void) {\n' "$name" "$name"; cat "$f"; printf '}\n'; } > "$dir/$name.c"
    for lang in c c++; do
      if [ $lang = c ]; then cmd="$cc -std=c99 -Wall -Wextra -Werror -Wno-unused-variable -Wno-unused-but-set-variable -I. -x c"; else cmd="$cxx -std=c++11 -Wall -Wextra -Werror -Wno-unused-variable -Wno-unused-but-set-variable -I. -x c++"; fi
      if ! $cmd -c "$dir/$name.c" -o /dev/null 2> "$dir/$name.err"; then
        echo "FAIL  README $name ($lang) does not compile:"; head -n 8 "$dir/$name.err" | sed 's/^/      /'; bad=$((bad + 1))
      fi
    done
  fi
done
if [ $count -eq 0 ]; then echo "readme_check: no C blocks found in README.md"; exit 1; fi
if [ $bad -ne 0 ]; then echo "readme_check: $bad of $((2 * count)) compiles failed"; exit 1; fi
echo "ok    the README's $count C blocks compile as C99 and C++11 (the program also runs)"
