// Types of the npm package (@vtrack/tracker), for src/index.js. Copied into package/dist/ by the build; the
// full run type-checks an app against the packed package (test/package.test.mjs).

/** Options of {@link init}. */
export interface InitOptions {
  /** The site key configured on the vtrack server (`[[sites]] key`, `vtrack serve --site`). */
  site: string;
  /**
   * Base URL of the vtrack server, or of a first-party proxy in front of it, e.g.
   * `https://vtrack.example.com` or `https://www.example.com/va`: events are posted to `{endpoint}/v1/events`.
   * Default: the page's own origin.
   */
  endpoint?: string;
  /**
   * No persistent visitor id: nothing is written to cookies or storage, and the server derives a daily id
   * from the address, user agent and site. Default: false.
   */
  cookieless?: boolean;
  /** Send nothing when the browser sends Do Not Track or Global Privacy Control. Default: false. */
  respectDnt?: boolean;
  /** Also send from `localhost`, `127.x`, `[::1]` and `file:` pages. Default: false. */
  allowLocalhost?: boolean;
  /**
   * Count page views automatically: one at `init()` and one on every URL change (`history.pushState` and
   * `replaceState`, back and forward, hash changes). `false` for routers that report their own: then only
   * {@link pageview} counts one. Default: true.
   */
  autoPageviews?: boolean;
}

/** Properties of a custom event: a JSON object, at most 4 KiB as JSON. */
export type EventProps = { [key: string]: unknown };

/**
 * Starts tracking. Call it once, early, in the browser; later calls are ignored. Where there is no `window`
 * (server-side rendering) it does nothing. Calls to the functions below made before it are kept and sent
 * once it runs.
 */
export declare function init(options: InitOptions): void;

/** Counts a page view of the current URL, unless it is the one counted last. */
export declare function pageview(): void;

/** Records a custom event: its name (at most 64 characters) and, optionally, its properties. */
export declare function track(name: string, props?: EventProps): void;

/** Links the visitor to a contact, e.g. when they fill in a form: the email address they gave. */
export declare function identify(email: string): void;
