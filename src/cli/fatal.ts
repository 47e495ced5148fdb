/**
 * What the command line prints for an error that ends a command: its message,
 * and for the wasm engine's bare abort (emscripten's `Aborted()`, which names
 * nothing) or trap (`memory access out of bounds`) what it almost always
 * means with a large model: the engine's heap, at most 4 GiB, ran out
 * (docs/METHODS.md §5, "Bringing a pretrained LM").
 */
export function fatalLines(e: unknown): string[] {
  const message = e instanceof Error ? e.message : String(e);
  const lines = [`llmrec: ${message}`];
  // emscripten's abort when malloc fails, or the trap of a kernel writing through a failed allocation.
  if (/^Aborted\(|^memory access out of bounds/.test(message)) {
    lines.push('llmrec: the wasm engine stopped, most likely out of memory: its heap holds at most 4 GiB (the model\'s weights as float32, activations, gradients). '
      + 'Lower the batch size (loraStage.batchSize, mappingStage.batchSize) or maxPromptTokens, or use a smaller model.');
  }
  return lines;
}
