// Starts Swagger UI on the server's /api/docs page (src/vibepiper/server/ui.py). It is a
// file, not an inline script, so the page runs under the dashboard's
// Content-Security-Policy; the schema's URL comes from the page (data-openapi-url).
// A server with an API key wants it for the schema too: every request Swagger UI makes
// carries the key the dashboard stored (its sign-in page), unless one was typed in
// Swagger UI's own Authorize dialog.
// `make ui` copies it, with Swagger UI itself, into the build's swagger/ folder.
"use strict";

const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // no badge from validator.swagger.io: nothing leaves the server
  requestInterceptor: (request) => {
    const key = window.localStorage.getItem("vibepiper.apiKey");
    if (key && !request.headers.Authorization) {
      request.headers.Authorization = `Bearer ${key}`;
    }
    return request;
  },
});
