// Drives the official RealtimeKit TypeScript SDK (npm cloudflare, pinned in package.json)
// against a running livegate: every realtimeKit.livestreams and realtimeKit.webhooks method,
// and the SDK's typed errors. Run by TestRealtimeKitSDKTypeScript (internal/server/sdk_ts_test.go), which starts
// the server, creates the apps and passes:
//   LIVEGATE_BASE_URL      the server's REST base URL (the SDK appends /accounts/...)
//   LIVEGATE_ACCOUNT, LIVEGATE_APP, LIVEGATE_TOKEN        an app and its API token
//   LIVEGATE_OTHER_TOKEN   the API token of an app of another account
//   LIVEGATE_LIVESTREAM_ID an independent livestream of the app (the TS SDK cannot create one)
// It prints one JSON object: {sdk_version, results: {<step>: <response or error>}}; the Go
// test asserts on it. A step that throws records {error: {class, status, message}}.
import Cloudflare, {
  AuthenticationError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
} from 'cloudflare';
import { VERSION } from 'cloudflare/version';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const baseURL = env('LIVEGATE_BASE_URL');
const account_id = env('LIVEGATE_ACCOUNT');
const app_id = env('LIVEGATE_APP');
const livestreamID = env('LIVEGATE_LIVESTREAM_ID');

const client = (apiToken) => new Cloudflare({ apiToken, baseURL, maxRetries: 0, timeout: 15_000 });
const cf = client(env('LIVEGATE_TOKEN'));
const ls = cf.realtimeKit.livestreams;

const typed = [
  ['NotFoundError', NotFoundError],
  ['AuthenticationError', AuthenticationError],
  ['PermissionDeniedError', PermissionDeniedError],
  ['ConflictError', ConflictError],
];
const results = {};
async function step(name, fn) {
  try {
    results[name] = await fn();
  } catch (err) {
    const cls = typed.find(([, C]) => err instanceof C)?.[0] ?? err?.constructor?.name ?? 'unknown';
    results[name] = {
      error: {
        class: cls,
        api_error: err instanceof Cloudflare.APIError,
        status: err?.status ?? null,
        errors: err?.errors ?? null,
        message: String(err?.message ?? err),
      },
    };
  }
}

const meetingID = 'ts-meeting';
const now = Math.floor(Date.now() / 1000);
const today = now - (now % 86400);

await step('startLivestreamingAMeeting', () =>
  ls.startLivestreamingAMeeting(meetingID, { account_id, app_id, name: 'ts-stream', video_config: { height: 720, width: 1280 } }));
const meetingStreamID = results.startLivestreamingAMeeting?.data?.id ?? 'missing';

// Starting it again while it is live: 409.
await step('startAgain', () => ls.startLivestreamingAMeeting(meetingID, { account_id, app_id, name: 'again' }));

await step('getAllLivestreams', () =>
  ls.getAllLivestreams(app_id, { account_id, per_page: 10, page_no: 1, sort_order: 'ASC' }));
await step('getAllLivestreamsRanged', () =>
  ls.getAllLivestreams(app_id, {
    account_id,
    start_time: new Date((now - 3600) * 1000).toISOString(),
    end_time: new Date((now + 3600) * 1000).toISOString(),
  }));
await step('getMeetingActiveLivestreams', () => ls.getMeetingActiveLivestreams(meetingID, { account_id, app_id }));
await step('getActiveLivestreamsForLivestreamID', () =>
  ls.getActiveLivestreamsForLivestreamID(meetingStreamID, { account_id, app_id }));
const sessionID = results.getActiveLivestreamsForLivestreamID?.data?.session?.id ?? 'missing';
await step('getLivestreamSessionDetailsForSessionID', () =>
  ls.getLivestreamSessionDetailsForSessionID(sessionID, { account_id, app_id }));
await step('stopLivestreamingAMeeting', () => ls.stopLivestreamingAMeeting(meetingID, { account_id, app_id }));
await step('getLivestreamSessionForLivestreamID', () =>
  ls.getLivestreamSessionForLivestreamID(meetingStreamID, { account_id, app_id, per_page: 5, page_no: 1 }));
await step('getLivestreamAnalyticsComplete', () =>
  ls.getLivestreamAnalyticsComplete(app_id, { account_id, start_time: now - 3600, end_time: now + 3600 }));
await step('getLivestreamAnalyticsDaywise', () =>
  ls.getLivestreamAnalyticsDaywise(app_id, { account_id, start_time: today - 2 * 86400, end_time: today + 86400 }));
await step('getOrgAnalytics', () => ls.getOrgAnalytics(app_id, { account_id }));

// Typed errors.
await step('notFound', () => ls.getMeetingActiveLivestreams(meetingID, { account_id, app_id }));
await step('unauthenticated', () =>
  client('not-a-livegate-token').realtimeKit.livestreams.getAllLivestreams(app_id, { account_id }));
await step('permissionDenied', () =>
  client(env('LIVEGATE_OTHER_TOKEN')).realtimeKit.livestreams.getAllLivestreams(app_id, { account_id }));
await step('filtersRefused', () =>
  ls.getLivestreamAnalyticsDaywise(app_id, { account_id, filters: 'livestream_id:' + livestreamID }));

// Outbound webhooks (realtimeKit.webhooks), on a public address (no development flag).
const wh = cf.realtimeKit.webhooks;
const hookURL = 'https://93.184.215.14/hooks/ts';
await step('createWebhook', () =>
  wh.createWebhook(app_id, { account_id, name: 'ts-hook', url: hookURL, events: ['livestreaming.statusUpdate', 'meeting.started'] }));
const webhookID = results.createWebhook?.data?.id ?? 'missing';
await step('getWebhooks', () => wh.getWebhooks(app_id, { account_id }));
await step('getWebhookByID', () => wh.getWebhookByID(webhookID, { account_id, app_id }));
await step('editWebhook', () => wh.editWebhook(webhookID, { account_id, app_id, name: 'ts-renamed', enabled: false }));
await step('replaceWebhook', () =>
  wh.replaceWebhook(webhookID, { account_id, app_id, name: 'ts-replaced', url: hookURL + '/v2', events: ['meeting.ended'] }));
await step('deleteWebhook', () => wh.deleteWebhook(webhookID, { account_id, app_id }));
await step('webhookGone', () => wh.getWebhookByID(webhookID, { account_id, app_id }));
await step('webhookRefused', () =>
  wh.createWebhook(app_id, { account_id, name: 'ts-transcripts', url: hookURL, events: ['meeting.transcript'] }));

process.stdout.write(JSON.stringify({ sdk_version: VERSION, meeting_livestream_id: meetingStreamID, results }) + '\n');
