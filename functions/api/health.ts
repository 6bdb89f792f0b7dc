import { httpHandler } from '../http/http-handler.ts';
import { json } from '../http/response.ts';

export const health = async () => json(200, { status: 'ok', version: process.env.LATCHKEY_VERSION ?? 'dev' });

export const handler = httpHandler(health);
