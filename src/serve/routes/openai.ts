/**
 * OpenAI-compatible `POST /v1/completions` and `POST /v1/chat/completions`
 * over the `--lm` folder (docs/SERVING.md, "LLM endpoints"): JSON answers or
 * server-sent events with OpenAI's chunk objects.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ApiError, parseWith } from '../http.js';
import { chatPrompt, generateText, type GenerationResult, type SampleOptions } from '../lm.js';
import { ChatBody, CompletionBody } from '../schemas.js';
import { lmOf, type RoutePlugin } from './context.js';

export const openaiRoutes: RoutePlugin = async (app, ctx) => {
  const sampling = (b: z.output<typeof CompletionBody> | z.output<typeof ChatBody>, maxTokens: number | null | undefined, logprobs: boolean, top: number): SampleOptions => ({
    maxTokens: maxTokens ?? 16,
    temperature: b.temperature ?? 1,
    topP: b.top_p ?? 1,
    seed: b.seed ?? Math.floor(Math.random() * 2 ** 32),
    stop: b.stop == null ? [] : Array.isArray(b.stop) ? b.stop : [b.stop],
    logprobs, topLogprobs: top,
  });

  /** Runs one generation, streamed as SSE or answered as JSON. */
  const complete = async (req: FastifyRequest, reply: FastifyReply, kind: 'text' | 'chat') => {
    const b = kind === 'text' ? parseWith(CompletionBody, req.body, 'body') : parseWith(ChatBody, req.body, 'body');
    const s = ctx.lease(req);
    const l = lmOf(s, b.model);
    let promptText: string;
    let so: SampleOptions;
    if (kind === 'text') {
      const c = b as z.output<typeof CompletionBody>;
      promptText = Array.isArray(c.prompt) ? c.prompt[0] : c.prompt;
      so = sampling(c, c.max_tokens, c.logprobs != null, c.logprobs ?? 0);
    } else {
      const c = b as z.output<typeof ChatBody>;
      promptText = chatPrompt(c.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: typeof m.content === 'string' ? m.content : m.content.map((x) => x.text).join('') })));
      so = sampling(c, c.max_completion_tokens ?? c.max_tokens, c.logprobs === true, c.top_logprobs ?? 0);
    }
    const ids = l.tok.encode(promptText, { addSpecialTokens: false });
    if (ids.length === 0) throw new ApiError(400, kind === 'text' ? 'prompt: empty' : 'messages: empty', kind === 'text' ? 'prompt' : 'messages', 'empty');
    if (ids.length + so.maxTokens > l.maxPositions) {
      throw new ApiError(400, `max_tokens: the prompt (${ids.length} tokens) + max_tokens (${so.maxTokens}) exceeds the model's ${l.maxPositions} positions`, 'max_tokens', 'context_length_exceeded');
    }
    const id = `${kind === 'text' ? 'cmpl' : 'chatcmpl'}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const object = kind === 'text' ? 'text_completion' : 'chat.completion';
    const usage = (r: GenerationResult) => ({ prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens });
    const chatLogprobs = (toks: GenerationResult['tokens']) => ({
      content: toks.map((t) => ({ token: t.text, logprob: t.logprob, bytes: [...Buffer.from(t.text)], top_logprobs: t.top.map((a) => ({ token: a.text, logprob: a.logprob, bytes: [...Buffer.from(a.text)] })) })),
    });
    const textLogprobs = (toks: GenerationResult['tokens'], offset0: number) => {
      let off = offset0;
      const text_offset = toks.map((t) => { const o0 = off; off += t.text.length; return o0; });
      return { tokens: toks.map((t) => t.text), token_logprobs: toks.map((t) => t.logprob), top_logprobs: toks.map((t) => Object.fromEntries(t.top.map((a) => [a.text, a.logprob]))), text_offset };
    };
    const stream = b.stream === true;
    if (!stream) {
      const signal = ctx.deadline(req, reply);
      const r = await ctx.withDeadline(req, reply, ctx.lmQueue.run(() => generateText(l, ids, so, undefined, signal)));
      if (kind === 'text') {
        return { id, object, created, model: l.id, choices: [{ index: 0, text: r.text, finish_reason: r.finishReason, logprobs: so.logprobs ? textLogprobs(r.tokens, 0) : null }], usage: usage(r) };
      }
      return { id, object, created, model: l.id, choices: [{ index: 0, message: { role: 'assistant', content: r.text, refusal: null }, finish_reason: r.finishReason, logprobs: so.logprobs ? chatLogprobs(r.tokens) : null }], usage: usage(r) };
    }
    // Server-sent events: one chunk per new text, then the finish chunk and [DONE].
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const abort = new AbortController();
    raw.on('close', () => {
      abort.abort(new Error('client closed the stream'));
      // A client gone mid-stream never finishes the response: free its queue slot and state here (release is idempotent).
      ctx.release(req);
    });
    const timer = setTimeout(() => abort.abort(new Error('timeout')), ctx.options.requestTimeoutMs);
    const send = (obj: unknown) => { if (!raw.writableEnded && !raw.destroyed) raw.write(`data: ${JSON.stringify(obj)}\n\n`); };
    const chunkObject = kind === 'text' ? 'text_completion' : 'chat.completion.chunk';
    let offset = 0;
    try {
      if (kind === 'chat') send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }] });
      const r = await ctx.lmQueue.run(() => generateText(l, ids, so, async (ev) => {
        if (ev.delta !== '' || (so.logprobs && ev.tokens.length > 0)) {
          if (kind === 'text') send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, text: ev.delta, finish_reason: null, logprobs: so.logprobs ? textLogprobs(ev.tokens, offset) : null }] });
          else send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, delta: { content: ev.delta }, finish_reason: null, logprobs: so.logprobs ? chatLogprobs(ev.tokens) : null }] });
          offset += ev.delta.length;
        }
        await new Promise<void>((res) => setImmediate(res));
      }, abort.signal));
      if (kind === 'text') send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, text: '', finish_reason: r.finishReason, logprobs: null }], usage: usage(r) });
      else send({ id, object: chunkObject, created, model: l.id, choices: [{ index: 0, delta: {}, finish_reason: r.finishReason, logprobs: null }], usage: usage(r) });
      if (!raw.writableEnded && !raw.destroyed) raw.write('data: [DONE]\n\n');
    } catch (e) {
      send({ error: { message: (e as Error).message, type: 'server_error', param: null, code: abort.signal.aborted ? 'aborted' : null } });
    } finally {
      clearTimeout(timer);
      if (!raw.writableEnded) raw.end();
    }
    return reply;
  };
  app.post('/v1/completions', (req, reply) => complete(req, reply, 'text'));
  app.post('/v1/chat/completions', (req, reply) => complete(req, reply, 'chat'));
};
