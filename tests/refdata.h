/* refdata.h - reading the reference files that tests/gen_*_reference.py write:
   whitespace-separated tokens; a tensor is "ndim dims... values...". */
#ifndef AG_TEST_REFDATA_H
#define AG_TEST_REFDATA_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* files of named tensors, a line each: "t NAME ndim dims... values..." (gen_vmap_reference.py,
   gen_inplace_view_reference.py); values as double */
typedef struct { char name[32]; rtensor t; } rnamed;
/* reads them into refs (at most max); the count, or -1 when the file cannot be opened */
static inline int read_named(const char *path, rnamed *refs, int max) {
    static char line[1 << 16];
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f) && n < max) {
        char *p = line;
        if (line[0] != 't') continue;
        next_tok(&p);
        snprintf(refs[n].name, sizeof refs[n].name, "%s", next_tok(&p));
        read_tensor(&p, &refs[n].t, false);
        n++;
    }
    fclose(f);
    return n;
}
static inline const rtensor *find_named(const rnamed *refs, int n, const char *name) {
    int i;
    for (i = 0; i < n; i++) if (!strcmp(refs[i].name, name)) return &refs[i].t;
    return NULL;
}
static inline void free_named(rnamed *refs, int n) { int i; for (i = 0; i < n; i++) free(refs[i].t.v); }
#endif
