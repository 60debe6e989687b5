// ballot's API reference: Swagger UI over this deployment's own document. The page lives
// at <base>/v1/docs (base: API Gateway's stage, or nothing locally), so the document and
// "Try it out" calls go to the same origin and base; nothing is fetched from elsewhere
// (no validator badge, no configuration from the address).
(function () {
  var base = location.pathname.replace(/\/v1\/docs\/?$/, "");
  var reference = document.getElementById("reference");
  fetch(base + "/v1/openapi.json", { credentials: "omit" })
    .then(function (response) {
      if (!response.ok) throw new Error("the document answered " + response.status);
      return response.json();
    })
    .then(function (spec) {
      spec.servers = [{ url: location.origin + base, description: "this deployment" }];
      window.ui = SwaggerUIBundle({
        spec: spec,
        dom_id: "#reference",
        deepLinking: true,
        displayRequestDuration: true,
        queryConfigEnabled: false,
        validatorUrl: null,
        withCredentials: false,
      });
    })
    .catch(function (error) {
      reference.textContent = "The API document could not be loaded: " + error.message;
    });
})();
