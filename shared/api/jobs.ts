/** Background jobs and their progress. */
import { apiErrorSchema, str } from './common.js';
import { planResultSchema, publishResultSchema, saveResultSchema, signResultSchema } from './rotation.js';

export const jobSchema = {
  type: 'object',
  required: ['id', 'kind', 'status', 'progress', 'startedAt'],
  additionalProperties: false,
  properties: {
    id: str,
    kind: { type: 'string', enum: ['plan', 'sign', 'save', 'publish'] },
    status: { type: 'string', enum: ['running', 'done', 'failed'] },
    progress: {
      type: 'array',
      items: { type: 'object', required: ['step', 'at'], additionalProperties: false, properties: { step: str, detail: str, at: str } },
    },
    /** Present when done: the member named like the job's kind. */
    result: {
      type: 'object',
      additionalProperties: false,
      properties: { plan: planResultSchema, sign: signResultSchema, save: saveResultSchema, publish: publishResultSchema },
    },
    error: apiErrorSchema,
    startedAt: str,
    finishedAt: str,
  },
} as const;

export const jobStartedSchema = {
  type: 'object',
  required: ['jobId'],
  additionalProperties: false,
  properties: { jobId: str },
} as const;
