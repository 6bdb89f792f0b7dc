import type { SESv2Client } from '@aws-sdk/client-sesv2';
import type { Mailer } from '#shared/ports/approval-links.ts';

// Every function of the deployments context builds this adapter, but only those bound to mail
// send: aws-clients.ts loads the SES module at their cold start, so this import finds it
// loaded. A static import would load SES into every function of that context.
const sendEmailCommand = async () => (await import('@aws-sdk/client-sesv2')).SendEmailCommand;

export const sesMailer = (ses: SESv2Client, from: string): Mailer => ({
  send: async ({ to, subject, text, html }) => {
    const SendEmailCommand = await sendEmailCommand();
    await ses.send(
      new SendEmailCommand({
        FromEmailAddress: from,
        Destination: { ToAddresses: [to] },
        Content: {
          Simple: {
            Subject: { Data: subject, Charset: 'UTF-8' },
            Body: { Text: { Data: text, Charset: 'UTF-8' }, Html: { Data: html, Charset: 'UTF-8' } },
          },
        },
      }),
    );
  },
});
