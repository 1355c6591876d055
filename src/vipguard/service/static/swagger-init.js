// Starts Swagger UI on the offline docs page (served as /docs-assets/swagger-init.js: the page allows no inline
// script). The OpenAPI document's URL comes from the page's #swagger-ui element.
"use strict";
const target = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: target.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
