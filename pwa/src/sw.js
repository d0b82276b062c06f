// The service worker: everything the app needs is precached at install (the list and
// revisions are written in by Workbox at build time), so the app opens with no network
// after the first visit. Navigations get the cached shell; the API and the idle beacon
// always go to the network (the app keeps its own data in IndexedDB).

import { clientsClaim } from "workbox-core";
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from "workbox-precaching";
import { NavigationRoute, registerRoute } from "workbox-routing";

// A new release takes over at once: the outbox lives in IndexedDB, not in the page, so a
// reload loses nothing, and a field worker should not run last month's rules.
self.skipWaiting();
clientsClaim();
cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
registerRoute(
  new NavigationRoute(createHandlerBoundToURL("/index.html"), {
    denylist: [/^\/api\//, /^\/schema/, /^\/b\//],
  }),
);
