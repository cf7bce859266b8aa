using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Miosa.Actors.Organizations;

namespace Miosa.Api.Tests;

/// <summary>
/// Organization isolation as a property of the whole API: organization B puts organization A's ids
/// into every /v1 route the node serves (read from its routing table, so routes added later are
/// swept too) and reaches nothing of A's.
/// </summary>
[Collection(SharedNodeCollection.Name)]
public partial class OrganizationIsolationTests(SharedNode shared)
{
    // Answers that move with time on their own (metering): compared before/after by status only.
    private static readonly HashSet<string> TimeDependent = ["/v1/usage"];
    // Routes whose credential is a browser token (?token=), not the organization key: without one
    // they refuse with 401 before looking anything up, which tells B nothing about A's ids.
    private static readonly HashSet<string> TokenAuthenticated = ["/v1/sandboxes/{id}/terminal"];
    private readonly MiosaNode _node = shared.Node;

    [Fact]
    public async Task The_route_list_needs_the_operator_token()
    {
        using var anonymous = new HttpClient { BaseAddress = _node.Api };
        await (await anonymous.GetAsync("/admin/v1/routes")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        using var organization = _node.Client();
        await (await organization.GetAsync("/admin/v1/routes")).AssertProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
        var routes = await RoutesAsync();
        Assert.Contains(("GET", "/v1/sandboxes/{id}"), routes);
        Assert.Contains(("DELETE", "/v1/api-keys/{id}"), routes);
        Assert.Contains(("GET", "/v1/audit-events"), routes);
        Assert.All(routes, r => Assert.StartsWith("/v1/", r.Pattern));
    }

    [Fact]
    public async Task Another_organization_reaches_nothing_through_any_route()
    {
        var routes = await RoutesAsync();
        var aKey = await _node.CreateOrganizationAsync("iso-a-" + Guid.NewGuid().ToString("N")[..8]);
        using var a = _node.Client(aKey);
        using var b = _node.Client(await _node.CreateOrganizationAsync("iso-b-" + Guid.NewGuid().ToString("N")[..8]));
        var owned = await OwnedResources.CreateAsync(a, routes);
        var secondKey = owned.Ids["api-keys"];
        // Everything of A's that must never show up in an answer to B (unless B sent it itself).
        string[] secrets =
        [
            ApiKeySecret.OrganizationOf(aKey)!, aKey, ApiKeySecret.PrefixOf(aKey), owned.Marker, owned.SecondKeyPrefix,
            .. owned.Ids.Where(i => i.Key != "processes").Select(i => i.Value),
        ];

        var before = await ViewAsync(a, routes, owned);
        var failures = new List<string>();
        foreach (var (method, pattern) in routes)
        {
            var path = Fill(method, pattern, owned.Ids);
            if (path != pattern)
            {
                // An id route with A's ids: as if absent.
                var (status, text) = await SendAsync(b, method, path + owned.Query, owned.ReferencingBody);
                if (status == HttpStatusCode.Unauthorized && TokenAuthenticated.Contains(pattern)
                    && !secrets.Any(s => !(path + owned.Query).Contains(s, StringComparison.Ordinal) && text.Contains(s, StringComparison.Ordinal)))
                    continue;
                if (status != HttpStatusCode.NotFound)
                    failures.Add($"{method} {path + owned.Query}: expected 404, got {(int)status}: {Clip(text)}");
                continue;
            }
            // A collection route: once plainly, once with A's ids as filters and references.
            foreach (var (query, body) in new[] { ("", owned.PlainBody), (owned.Query, owned.ReferencingBody) })
            {
                var (status, text) = await SendAsync(b, method, path + query, body);
                var sent = path + query + JsonSerializer.Serialize(body);
                var leaked = secrets.Where(s => !sent.Contains(s, StringComparison.Ordinal) && text.Contains(s, StringComparison.Ordinal)).ToList();
                if ((int)status >= 500 || leaked.Count > 0)
                    failures.Add($"{method} {path + query}: {(int)status}, leaks [{string.Join(", ", leaked)}]: {Clip(text)}");
                await CleanUpAsync(b, method, pattern, status, text);
            }
        }
        Assert.True(failures.Count == 0, "Organization B reached organization A's resources:\n" + string.Join("\n", failures));

        // A's resources, lists and audit log read exactly as before, and A's keys still work.
        var after = await ViewAsync(a, routes, owned);
        Assert.Equal(before.Keys, after.Keys);
        foreach (var (route, view) in before)
            Assert.True(view == after[route], $"{route} changed for organization A:\nbefore: {view}\nafter:  {after[route]}");
        using var second = _node.Client(owned.SecondKey);
        Assert.Equal(HttpStatusCode.OK, (await second.GetAsync("/v1/api-keys")).StatusCode);
        Assert.Contains(secondKey, await a.GetStringAsync("/v1/api-keys"));
    }

    /// <summary>
    /// The route with A's id in each parameter, chosen by the collection segment before it. A
    /// parameter this test cannot fill fails it: a new route must be swept, not skipped.
    /// </summary>
    private static string Fill(string method, string pattern, IReadOnlyDictionary<string, string> ids)
    {
        var segments = pattern.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            if (!segments[i].StartsWith('{')) continue;
            var name = ParameterName().Match(segments[i]).Groups[1].Value;
            var collection = i > 0 ? segments[i - 1] : "";
            if (!ids.TryGetValue(collection, out var id))
            {
                Assert.Fail(
                    $"{method} {pattern}: the cross-organization sweep does not know how to fill {{{name}}} after '/{collection}'. " +
                    $"Make organization A create one such resource in {nameof(OrganizationIsolationTests)}.{nameof(OwnedResources)}.{nameof(OwnedResources.CreateAsync)} " +
                    $"and register its id under \"{collection}\", so this route is checked for organization scoping.");
            }
            segments[i] = id;
        }
        return string.Join('/', segments);
    }

    [GeneratedRegex(@"^\{\**([A-Za-z0-9_]+)")]
    private static partial Regex ParameterName();

    /// <summary>What A sees on every GET route, last-use times aside (A's own reads move them).</summary>
    private static async Task<Dictionary<string, string>> ViewAsync(HttpClient a, IReadOnlyList<(string Method, string Pattern)> routes, OwnedResources owned)
    {
        var view = new Dictionary<string, string>();
        foreach (var (_, pattern) in routes.Where(r => r.Method == "GET"))
        {
            foreach (var query in new[] { "", owned.Query })
            {
                var path = Fill("GET", pattern, owned.Ids) + query;
                var (status, text) = await SendAsync(a, "GET", path, null);
                view[path] = TimeDependent.Contains(pattern) ? $"{(int)status}" : $"{(int)status} {LastUsed().Replace(text, "")}";
            }
        }
        return view;
    }

    // Last-use times move with A's own reads; a problem's traceId differs per request.
    [GeneratedRegex("\"(last_used_at|traceId)\":(null|\"[^\"]*\")")]
    private static partial Regex LastUsed();

    /// <summary>What B created through a collection route is its own; removed so the shared node stays light.</summary>
    private static async Task CleanUpAsync(HttpClient b, string method, string pattern, HttpStatusCode status, string text)
    {
        if (method != "POST" || (int)status is < 200 or > 299 || !text.StartsWith('{')) return;
        if (JsonDocument.Parse(text).RootElement.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
            await b.DeleteAsync($"{pattern}/{id.GetString()}");
    }

    private static async Task<(HttpStatusCode Status, string Text)> SendAsync(HttpClient client, string method, string path, object? body)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null && method is not ("GET" or "HEAD" or "DELETE")) request.Content = MiosaNode.Json(body);
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static string Clip(string text) => text.Length <= 300 ? text : text[..300] + "...";

    private async Task<List<(string Method, string Pattern)>> RoutesAsync()
    {
        using var admin = new HttpClient { BaseAddress = _node.Api };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", MiosaNode.AdminToken);
        var routes = JsonDocument.Parse(await admin.GetStringAsync("/admin/v1/routes")).RootElement.GetProperty("data").EnumerateArray()
            .Select(r => (r.GetProperty("method").GetString()!, r.GetProperty("pattern").GetString()!)).ToList();
        Assert.NotEmpty(routes);
        return routes;
    }

    /// <summary>One of each resource organization A can create, by the collection segment of its routes.</summary>
    private sealed record OwnedResources(
        Dictionary<string, string> Ids, string Marker, string SecondKey, string SecondKeyPrefix, string Query, object PlainBody, object ReferencingBody)
    {
        public static async Task<OwnedResources> CreateAsync(HttpClient a, IReadOnlyList<(string Method, string Pattern)> routes)
        {
            var marker = "iso" + Guid.NewGuid().ToString("N")[..12];
            var ids = new Dictionary<string, string>();
            bool Offers(string pattern) => routes.Contains(("POST", pattern));

            // Workspaces and projects arrive with their own routes; A makes one of each when they exist.
            if (Offers("/v1/workspaces"))
                ids["workspaces"] = (await a.PostJsonAsync("/v1/workspaces", new { name = marker }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
            if (Offers("/v1/projects"))
            {
                ids["projects"] = (await a.PostJsonAsync("/v1/projects", new { workspace_id = ids.GetValueOrDefault("workspaces"), name = marker }, HttpStatusCode.Created))
                    .GetProperty("id").GetString()!;
            }
            var sandbox = await a.CreateSandboxAsync(new
            {
                workspace_id = ids.GetValueOrDefault("workspaces"),
                project_id = ids.GetValueOrDefault("projects"),
                external_user_id = marker,
                metadata = new { owner = marker },
            });
            ids["sandboxes"] = sandbox;
            Assert.Equal(HttpStatusCode.NoContent, (await a.PutAsync($"/v1/sandboxes/{sandbox}/files?path=owned.txt", new StringContent(marker))).StatusCode);
            ids["processes"] = (await a.PostJsonAsync($"/v1/sandboxes/{sandbox}/exec", new { command = "sleep 600", background = true }, HttpStatusCode.Accepted))
                .GetProperty("process_id").GetInt32().ToString();
            if (Offers("/v1/sandboxes/{id}/previews"))
            {
                ids["previews"] = (await a.PostJsonAsync($"/v1/sandboxes/{sandbox}/previews", new { port = 3000, external_user_id = marker }, HttpStatusCode.Created))
                    .GetProperty("id").GetString()!;
            }
            if (Offers("/v1/share-tokens"))
            {
                ids["share-tokens"] = (await a.PostJsonAsync("/v1/share-tokens", new { sandbox_id = sandbox, port = 3000, external_user_id = marker }, HttpStatusCode.Created))
                    .GetProperty("id").GetString()!;
            }
            if (Offers("/v1/sandboxes/{id}/snapshots"))
            {
                ids["snapshots"] = (await a.PostJsonAsync($"/v1/sandboxes/{sandbox}/snapshots", new { name = marker, external_user_id = marker }, HttpStatusCode.Created))
                    .GetProperty("id").GetString()!;
            }
            if (Offers("/v1/deployments"))
            {
                var deployment = (await a.PostJsonAsync("/v1/deployments", new { name = marker, external_user_id = marker }, HttpStatusCode.Created))
                    .GetProperty("id").GetString()!;
                ids["deployments"] = deployment;
                Assert.Equal(HttpStatusCode.NoContent, (await a.PutAsync($"/v1/sandboxes/{sandbox}/files?path=index.html", new StringContent(marker))).StatusCode);
                var published = await a.PostJsonAsync($"/v1/deployments/{deployment}/publish", new { sandbox_id = sandbox, mode = "static" }, HttpStatusCode.Accepted);
                ids["versions"] = published.GetProperty("version_id").GetString()!;
                ids["builds"] = published.GetProperty("build_id").GetString()!;
                for (var i = 0; i < 200; i++)
                {
                    var version = await a.GetJsonAsync($"/v1/versions/{ids["versions"]}");
                    if (version.GetProperty("release").ValueKind == JsonValueKind.Object)
                    {
                        ids["releases"] = version.GetProperty("release").GetProperty("sha256").GetString()!;
                        break;
                    }
                    await Task.Delay(50);
                }
            }
            var key = await a.PostJsonAsync("/v1/api-keys", new { name = marker }, HttpStatusCode.Created);
            ids["api-keys"] = key.GetProperty("id").GetString()!;

            var filters = new Dictionary<string, string?>
            {
                ["path"] = "owned.txt",
                ["external_user_id"] = marker,
                ["workspace_id"] = ids.GetValueOrDefault("workspaces"),
                ["project_id"] = ids.GetValueOrDefault("projects"),
                ["sandbox_id"] = sandbox,
                ["resource_id"] = sandbox,
                ["metadata.owner"] = marker,
            };
            var query = "?" + string.Join('&', filters.Where(f => f.Value is not null).Select(f => $"{f.Key}={Uri.EscapeDataString(f.Value!)}"));
            // Plausible for any create or action: a name, a command, and A's resources wherever one is referenced.
            var plain = new { name = "intruder", command = "true", port = 3000 };
            var referencing = new
            {
                name = "intruder",
                command = "true",
                port = 3000,
                workspace_id = ids.GetValueOrDefault("workspaces"),
                project_id = ids.GetValueOrDefault("projects"),
                sandbox_id = sandbox,
                key_id = ids["api-keys"],
                snapshot_id = ids.GetValueOrDefault("snapshots"),
            };
            return new OwnedResources(ids, marker, key.GetProperty("key").GetString()!, key.GetProperty("prefix").GetString()!, query, plain, referencing);
        }
    }
}
