/**
 * What the command line prints for an error that ends a command: its message,
 * and for the wasm engine's bare abort (emscripten's `Aborted()`, which names
 * nothing) what it almost always means here: the engine's heap, at most
 * 4 GiB, ran out (docs/METHODS.md §5 "Bringing a pretrained LM", memory).
 */
export function fatalLines(e: unknown): string[] {
  const message = e instanceof Error ? e.message : String(e);
  const lines = [`llmrec: ${message}`];
  if (/^Aborted\(/.test(message)) {
    lines.push('llmrec: the wasm engine aborted, most likely out of memory: its heap holds at most 4 GiB (the model\'s weights as float32, activations, gradients). '
      + 'Lower the batch size (loraStage.batchSize, mappingStage.batchSize) or maxPromptTokens, or use a smaller model.');
  }
  return lines;
}
