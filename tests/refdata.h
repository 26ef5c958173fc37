/* refdata.h - reading the reference files that tests/gen_*_reference.py write:
   whitespace-separated tokens; a tensor is "ndim dims... values...". */
#ifndef AG_TEST_REFDATA_H
#define AG_TEST_REFDATA_H
#include <stdlib.h>
#include <stdbool.h>

typedef struct { int ndim; int64_t shape[AG_MAX_DIMS]; int64_t n; double *v; int rg; } rtensor;   /* rg: requires grad, where the file says */

/* the next token of *p, NUL-terminated in place; NULL at the end */
static char *next_tok(char **p) {
    char *s = *p, *t;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    if (!*s) return NULL;
    t = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') s++;
    if (*s) *s++ = 0;
    *p = s;
    return t;
}
/* inputs, seeds and tangents are float32 numbers written with 9 digits: strtof (f32) gives them exactly */
static void read_tensor(char **p, rtensor *t, bool f32) {
    int64_t i;
    t->ndim = atoi(next_tok(p));
    t->n = 1;
    for (i = 0; i < t->ndim; i++) { t->shape[i] = atoll(next_tok(p)); t->n *= t->shape[i]; }
    t->v = (double *)malloc(sizeof(double) * (size_t)(t->n ? t->n : 1));
    for (i = 0; i < t->n; i++) t->v[i] = f32 ? (double)strtof(next_tok(p), NULL) : strtod(next_tok(p), NULL);
}
#endif
