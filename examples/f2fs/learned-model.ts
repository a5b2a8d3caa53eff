// Placeholder until scripts/train-f2fs-policy.ts writes this file.
import type { LearnedModel } from './engine.js';

export const LEARNED_MODEL: LearnedModel = { format: 'koffload-f2fs-learned/1', weights: [0, 0, 0, 0, 0, 0, 0, 0], examples: 0, source: 'untrained' };
