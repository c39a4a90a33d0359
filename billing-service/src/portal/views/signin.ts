/** Sign-in with a billing token, and the pages for errors (which never name the tenant asked for). */
import { html, type SafeHtml } from "../html";
import { notice, page } from "./layout";

export const signInPage = (options: { csrf: string; problem?: string; signedOut?: boolean; proxy?: boolean }): SafeHtml =>
  page(
    { title: "Sign in" },
    html`<div class="signin">
      <section class="card">
        <h1>Sign in</h1>
        ${options.signedOut ? html`<p class="notice info" role="status">You are signed out.</p>` : ""}
        ${options.problem ? html`<p class="notice error" role="alert">${options.problem}</p>` : ""}
        <p>Paste the billing token your platform team gave you for your tenant. It stays in a secure cookie for this browser session (at most 8 hours) and is never shown again.</p>
        <form method="post" action="/portal/sign-in">
          <input type="hidden" name="_csrf" value="${options.csrf}">
          <div class="field"><label for="token">Billing token</label>
            <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required aria-describedby="token-hint">
            <p id="token-hint" class="hint">Starts with <code>mb_</code>. Lost it? Your platform team can issue a new one.</p></div>
          <button type="submit" class="button">Sign in</button>
        </form>
        ${options.proxy ? html`<p class="hint">On the cluster, signing in through the platform's OAuth proxy also works: open the portal through its address.</p>` : ""}
      </section>
    </div>`,
  );

export const errorPage = (status: number, csrf?: string): SafeHtml => {
  const [title, text]: [string, SafeHtml | string] =
    status === 401
      ? ["Your session has ended", html`Sign in again on the <a href="/portal/sign-in">sign-in page</a>. Sessions end after 8 hours, at sign-out, or when the token is revoked.`]
      : status === 403
        ? ["Not available to you", html`Your sign-in does not give access to this page. Go back to <a href="/portal/">your overview</a>, or ask your platform team if you need more access.`]
        : status === 404
          ? ["Page not found", html`Nothing is here. Go back to <a href="/portal/">your overview</a>.`]
          : status === 400
            ? ["That request was not understood", html`A value in the address is not valid. Go back to <a href="/portal/">your overview</a> and try again from there.`]
            : ["Something went wrong on our side", html`Try again in a minute. If it keeps happening, tell your platform team the time it happened; the details are in the service log.`];
  return page({ title, csrf }, notice("error", title, text));
};
