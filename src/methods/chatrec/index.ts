/** Chat-Rec: a conversational recommender on any LLM backend (docs/LLM.md "Chat-Rec"). */
export { type ChatCounts, ChatRec, type ChatRecOptions, type ChatTurn, renderTurn, type Session } from './chat.js';
export {
  firstJsonObject, MAX_K, parseToolCall, type Recommended, type RecommenderHandle, resolveItems, runTool, type ToolArgs, ToolArgsSchema, ToolCallError,
  toolCallJsonSchema, type ToolCallProblem, ToolCallSchema, userHistory, validateToolArgs,
} from './tool.js';
