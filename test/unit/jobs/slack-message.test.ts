/**
 * The Block Kit notice that job runs (functions/domain/jobs.ts) and job image
 * rollouts (functions/domain/job-rollout.ts) both send: a markdown section and
 * a context note, each cut to Block Kit's 3000 characters, with the text
 * fallback, and the channel only when the policy names one.
 */
import { slackMessage } from '../../../functions/domain/jobs';

describe('slackMessage (job notices)', () => {
  it('builds the section and the context note, with no channel unless one is given', () => {
    expect(slackMessage('fallback', '*nightly* failed', 'job run `r1`')).toEqual({
      text: 'fallback',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: '*nightly* failed' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'job run `r1`' }] },
      ],
    });
    expect(slackMessage('t', 'm', 'n', '#deploys')).toMatchObject({ channel: '#deploys' });
  });

  it('cuts the section and the note to 3000 characters each', () => {
    const message = slackMessage('t', 'm'.repeat(3001), 'n'.repeat(3500));
    expect(message.blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: 'm'.repeat(3000) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'n'.repeat(3000) }] },
    ]);
  });
});
