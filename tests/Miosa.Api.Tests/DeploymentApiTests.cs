using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>Static publishes end to end: a real node freezes a real sandbox's workspace, and its edge serves the release.</summary>
[Collection(SharedNodeCollection.Name)]
public class DeploymentApiTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    private static async Task<JsonElement> SettledAsync(HttpClient client, string versionId)
    {
        for (var i = 0; i < 300; i++)
        {
            var version = await client.GetJsonAsync($"/v1/versions/{versionId}");
            if (version.GetProperty("state").GetString() is "ready" or "failed") return version;
            await Task.Delay(50);
        }
        throw new TimeoutException($"Version {versionId} did not settle.");
    }

    private static async Task<JsonElement> PublishAsync(HttpClient client, string deployment, object body)
    {
        var queued = await client.PostJsonAsync($"/v1/deployments/{deployment}/publish", body, HttpStatusCode.Accepted);
        Assert.Equal("queued", queued.GetProperty("state").GetString());
        Assert.StartsWith("bld_", queued.GetProperty("build_id").GetString());
        return await SettledAsync(client, queued.GetProperty("version_id").GetString()!);
    }

    [Fact]
    public async Task A_static_site_is_published_served_republished_and_rolled_back()
    {
        using var client = _node.Client();
        var workspace = (await client.PostJsonAsync("/v1/workspaces", new { name = "Pub " + Guid.NewGuid().ToString("n")[..6] }, HttpStatusCode.Created));
        var wsSlug = workspace.GetProperty("slug").GetString()!;
        var sandbox = await client.CreateSandboxAsync();
        await client.ExecAsync(sandbox, new { command = "mkdir -p docs assets node_modules/x && echo '<h1>v1</h1>' > index.html && echo '<p>docs</p>' > docs/index.html && echo 'body{}' > assets/site.css && head -c 5000 /dev/urandom > assets/blob.bin && echo junk > node_modules/x/y.js && echo secret.txt > .gitignore && echo s > secret.txt && ln -s site.css assets/alias.css" });

        var deployment = await client.PostJsonAsync("/v1/deployments", new { name = "Site", slug = "site", workspace_id = workspace.GetProperty("id").GetString() }, HttpStatusCode.Created);
        var id = deployment.GetProperty("id").GetString()!;
        Assert.StartsWith("dep_", id);
        Assert.Equal(JsonValueKind.Null, deployment.GetProperty("active_version_id").ValueKind);
        var url = deployment.GetProperty("url").GetString()!;
        Assert.Equal($"http://site.{wsSlug}.localhost:{_node.EdgePort}/", url);

        var v1 = await PublishAsync(client, id, new { sandbox_id = sandbox });
        Assert.True(v1.GetProperty("state").GetString() == "ready", v1.ToString());
        Assert.Equal(1, v1.GetProperty("number").GetInt32());
        var sha1 = v1.GetProperty("release").GetProperty("sha256").GetString()!;
        Assert.Equal("static", v1.GetProperty("release").GetProperty("kind").GetString());
        Assert.Matches("^[0-9a-f]{40}$", v1.GetProperty("source_commit").GetString()!);
        Assert.Contains("release sha256 " + sha1, await client.GetStringAsync($"/v1/builds/{v1.GetProperty("build_id").GetString()}/logs"));
        Assert.Equal(sha1, (await client.GetJsonAsync($"/v1/releases/{sha1}")).GetProperty("sha256").GetString());

        using var visitor = new PreviewVisitor(_node.EdgePort);
        var page = await visitor.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("<h1>v1</h1>\n", await page.Content.ReadAsStringAsync());
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Equal("text/css", (await visitor.GetAsync(url + "assets/site.css")).Content.Headers.ContentType!.MediaType);
        Assert.Equal("body{}\n", await (await visitor.GetAsync(url + "assets/alias.css")).Content.ReadAsStringAsync());
        Assert.Equal("<p>docs</p>\n", await (await visitor.GetAsync(url + "docs/")).Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.PermanentRedirect, (await visitor.GetAsync(url + "docs")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await visitor.GetAsync(url + "node_modules/x/y.js")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await visitor.GetAsync(url + "secret.txt")).StatusCode);
        var missing = await visitor.GetAsync(url + "nope.html");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("Page not found", await missing.Content.ReadAsStringAsync());

        // ETag and 304; Range and 206.
        var etag = page.Headers.ETag!;
        var again = new HttpRequestMessage(HttpMethod.Get, url);
        again.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.NotModified, (await visitor.SendAsync(again)).StatusCode);
        var range = new HttpRequestMessage(HttpMethod.Get, url + "assets/blob.bin");
        range.Headers.Range = new RangeHeaderValue(100, 199);
        var partial = await visitor.SendAsync(range);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(100, (await partial.Content.ReadAsByteArrayAsync()).Length);

        // Unchanged source: the same release.
        var same = await PublishAsync(client, id, new { sandbox_id = sandbox });
        Assert.Equal(sha1, same.GetProperty("release").GetProperty("sha256").GetString());

        // Edited: a new version, a new release, served.
        await client.ExecAsync(sandbox, new { command = "echo '<h1>v3</h1>' > index.html" });
        var v3 = await PublishAsync(client, id, new { sandbox_id = sandbox });
        Assert.Equal(3, v3.GetProperty("number").GetInt32());
        var sha3 = v3.GetProperty("release").GetProperty("sha256").GetString()!;
        Assert.NotEqual(sha1, sha3);
        Assert.Equal("<h1>v3</h1>\n", await (await visitor.GetAsync(url)).Content.ReadAsStringAsync());

        // Rollback: the old release again, no build.
        var rolled = await client.PostJsonAsync($"/v1/deployments/{id}/rollback", new { }, HttpStatusCode.OK);
        Assert.Equal(same.GetProperty("id").GetString(), rolled.GetProperty("active_version_id").GetString());
        Assert.Equal("<h1>v1</h1>\n", await (await visitor.GetAsync(url)).Content.ReadAsStringAsync());
        Assert.Equal(3, (await client.GetJsonAsync($"/v1/deployments/{id}/versions")).GetProperty("data").GetArrayLength());

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/deployments/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await visitor.GetAsync(url)).StatusCode);
    }

    [Fact]
    public async Task Bad_publishes_end_as_failed_versions_with_clear_errors()
    {
        using var client = _node.Client();
        var deployment = await client.PostJsonAsync("/v1/deployments", new { name = "Bad inputs" }, HttpStatusCode.Created);
        var id = deployment.GetProperty("id").GetString()!;

        var empty = await client.CreateSandboxAsync();
        var failed = await PublishAsync(client, id, new { sandbox_id = empty });
        Assert.Equal("failed", failed.GetProperty("state").GetString());
        Assert.Equal("empty_workspace", failed.GetProperty("error").GetProperty("code").GetString());

        var linked = await client.CreateSandboxAsync();
        await client.ExecAsync(linked, new { command = "echo hi > index.html && ln -s /etc/passwd leak.txt" });
        var outside = await PublishAsync(client, id, new { sandbox_id = linked });
        Assert.Equal("symlink_outside_workspace", outside.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("leak.txt", outside.GetProperty("error").GetProperty("message").GetString());

        var app = await client.CreateSandboxAsync();
        await client.ExecAsync(app, new { command = "echo '{}' > package.json" });
        var dynamic = await PublishAsync(client, id, new { sandbox_id = app });
        Assert.Equal("dynamic_releases_unavailable", dynamic.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("dynamic_releases_unavailable", await client.GetStringAsync($"/v1/builds/{dynamic.GetProperty("build_id").GetString()}/logs"));
        Assert.Equal(JsonValueKind.Null, (await client.GetJsonAsync($"/v1/deployments/{id}")).GetProperty("active_version_id").ValueKind);

        await (await client.PostAsync("/v1/deployments", MiosaNode.Json(new { name = "x", slug = "Not_A_Label" })))
            .AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "invalid_slug", "slug");

        // Another organization's sandbox is absent.
        var other = _node.Client(await _node.CreateOrganizationAsync("pub-other-" + Guid.NewGuid().ToString("n")[..6]));
        var theirs = await other.CreateSandboxAsync();
        await (await client.PostAsync($"/v1/deployments/{id}/publish", MiosaNode.Json(new { sandbox_id = theirs })))
            .AssertProblemAsync(HttpStatusCode.NotFound, "sandbox_not_found");
    }
}
