/* Plain C compute kernels of the llmrec addon (no N-API); see kernels.c. */
#ifndef LLMREC_KERNELS_H
#define LLMREC_KERNELS_H
#include <stdint.h>

void llmrec_softmax_xent(const float *logits, const int32_t *labels, int64_t N, int64_t V, float *loss, float *probs);
void llmrec_softmax_xent_grad(const float *probs, const int32_t *labels, const float *dy, int64_t N, int64_t V, float *out);
void llmrec_layer_norm(const float *x, const float *gamma, const float *beta, int64_t N, int64_t D, double eps,
                       float *y, float *mean, float *rstd);
void llmrec_layer_norm_grad(const float *dy, const float *x, const float *mean, const float *rstd, const float *gamma,
                            int64_t N, int64_t D, float *dx, float *dgamma, float *dbeta);
void llmrec_reduce_middle(const float *x, int64_t outer, int64_t R, int64_t inner, float *out, double scale);
void llmrec_adamw(const float *p, const float *g, const float *m, const float *v, int64_t n,
                  double lr, double beta1, double beta2, double eps, double weight_decay, double bc1, double bc2,
                  double grad_scale, float *p_out, float *m_out, float *v_out);
void llmrec_gru_cell(const float *gx, const float *gh, const float *h, int64_t B, int64_t d, float *h_out, float *gates);
void llmrec_gru_cell_grad(const float *dh_new, const float *gates, const float *gh, const float *h, int64_t B, int64_t d,
                          float *dgx, float *dgh, float *dh);
void llmrec_segment_sum(const float *x, const int32_t *ids, int64_t n, int64_t inner, int64_t num_segments, float *out);
void llmrec_gather_rows(const float *x, const int32_t *ids, int64_t n, int64_t inner, float *out);
void llmrec_attn_softmax(float *s, int64_t batch, int64_t Lq, int64_t Lk, float scale, const float *mask,
                         const int32_t *base, int64_t row_stride, int64_t col_stride);
void llmrec_attn_softmax_grad(const float *p, float *dp, int64_t rows, int64_t Lk, float scale);
void llmrec_swiglu(const float *g, const float *u, int64_t n, float *y);
void llmrec_swiglu_grad(const float *dy, const float *g, const float *u, int64_t n, float *dg, float *du);
#endif
