import { apiHandler } from '../http/api-route.ts';

export const health = async () => ({ status: 'ok' as const, version: process.env.LATCHKEY_VERSION ?? 'dev' });

export const handler = apiHandler('GET /health', health);
