// Starts Swagger UI on the server's /api/docs page (src/vibepiper/server/ui.py). It is a
// file, not an inline script, so the page runs under the dashboard's
// Content-Security-Policy; the schema's URL comes from the page (data-openapi-url).
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
});
