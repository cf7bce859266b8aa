namespace Miosa.Api.Operator;

public static class RouteEndpoints
{
    /// <summary>
    /// GET /admin/v1/routes: every /v1 route (method and pattern) this node serves, read from the
    /// routing table itself, so tools and tests also see routes nobody listed by hand.
    /// </summary>
    public static void MapRouteEndpoints(this RouteGroupBuilder admin) =>
        admin.MapGet("/routes", (EndpointDataSource endpoints) => Results.Json(new
        {
            data = endpoints.Endpoints.OfType<RouteEndpoint>()
                .Select(e => (Pattern: e.RoutePattern.RawText ?? "", Methods: e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"]))
                .Where(e => e.Pattern.StartsWith("/v1/", StringComparison.Ordinal))
                .SelectMany(e => e.Methods.Select(method => (Method: method, e.Pattern)))
                .Distinct()
                .OrderBy(r => r.Pattern, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal)
                .Select(r => new { method = r.Method, pattern = r.Pattern }),
        }));
}
