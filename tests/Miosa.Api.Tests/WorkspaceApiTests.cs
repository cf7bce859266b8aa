using System.Net;
using System.Text.Json;

namespace Miosa.Api.Tests;

[Collection(SharedNodeCollection.Name)]
public class WorkspaceApiTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    /// <summary>A client of a fresh organization, so every count and list is this test's alone.</summary>
    private async Task<HttpClient> FreshOrganizationAsync(string prefix) =>
        _node.Client(await _node.CreateOrganizationAsync(prefix + "-" + Guid.NewGuid().ToString("N")[..8]));

    private static string Id(JsonElement resource) => resource.GetProperty("id").GetString()!;

    private static async Task<(List<string> Ids, string? Next)> PageAsync(HttpClient client, string path)
    {
        var page = JsonDocument.Parse(await client.GetStringAsync(path)).RootElement;
        var next = page.GetProperty("next_cursor");
        return (page.GetProperty("data").EnumerateArray().Select(Id).ToList(), next.ValueKind == JsonValueKind.Null ? null : next.GetString());
    }

    private static async Task<JsonElement> PatchJsonAsync(HttpClient client, string path, object body, HttpStatusCode expected)
    {
        var response = await client.PatchAsync(path, MiosaNode.Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"PATCH {path}: expected {expected}, got {response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task AssertDeletedAsync(HttpClient client, string path) =>
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync(path)).StatusCode);

    [Fact]
    public async Task Workspaces_are_created_read_listed_filtered_and_renamed()
    {
        using var client = await FreshOrganizationAsync("ws-crud");
        var acme = await client.PostJsonAsync("/v1/workspaces",
            new { name = "Acme", slug = "acme", external_workspace_id = "client-7", metadata = new { tier = "gold" } }, HttpStatusCode.Created);
        Assert.Matches("^ws_[a-z0-9]+$", Id(acme));
        Assert.Equal("acme", acme.GetProperty("slug").GetString());
        Assert.Equal("Acme", acme.GetProperty("name").GetString());
        Assert.Equal("client-7", acme.GetProperty("external_workspace_id").GetString());
        Assert.Equal("gold", acme.GetProperty("metadata").GetProperty("tier").GetString());
        Assert.Equal(acme.GetProperty("created_at").GetDateTimeOffset(), acme.GetProperty("updated_at").GetDateTimeOffset());

        var got = JsonDocument.Parse(await client.GetStringAsync($"/v1/workspaces/{Id(acme)}")).RootElement;
        Assert.Equal(acme.ToString(), got.ToString());

        // Without a slug, one is made from the name.
        var beta = await client.PostJsonAsync("/v1/workspaces", new { name = "Beta Clients!", metadata = new { tier = "free" } }, HttpStatusCode.Created);
        Assert.Equal("beta-clients", beta.GetProperty("slug").GetString());
        Assert.Equal(JsonValueKind.Null, beta.GetProperty("external_workspace_id").ValueKind);
        var gamma = await client.PostJsonAsync("/v1/workspaces", new { name = "Gamma" }, HttpStatusCode.Created);

        Assert.Equal([Id(acme), Id(beta), Id(gamma)], (await PageAsync(client, "/v1/workspaces")).Ids);
        Assert.Equal([Id(acme)], (await PageAsync(client, "/v1/workspaces?external_workspace_id=client-7")).Ids);
        Assert.Equal([Id(beta)], (await PageAsync(client, "/v1/workspaces?metadata.tier=free")).Ids);
        var (first, cursor) = await PageAsync(client, "/v1/workspaces?limit=2");
        Assert.Equal([Id(acme), Id(beta)], first);
        var (second, end) = await PageAsync(client, $"/v1/workspaces?limit=2&cursor={cursor}");
        Assert.Equal([Id(gamma)], second);
        Assert.Null(end);

        var renamed = await PatchJsonAsync(client, $"/v1/workspaces/{Id(acme)}", new { name = "Acme Corp" }, HttpStatusCode.OK);
        Assert.Equal("Acme Corp", renamed.GetProperty("name").GetString());
        Assert.Equal("acme", renamed.GetProperty("slug").GetString());
        Assert.True(renamed.GetProperty("updated_at").GetDateTimeOffset() > renamed.GetProperty("created_at").GetDateTimeOffset());
        var listed = JsonDocument.Parse(await client.GetStringAsync("/v1/workspaces?external_workspace_id=client-7")).RootElement;
        Assert.Equal("Acme Corp", listed.GetProperty("data")[0].GetProperty("name").GetString());

        await (await client.PatchAsync($"/v1/workspaces/{Id(acme)}", MiosaNode.Json(new { })))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "name");
        await (await client.PostAsync("/v1/workspaces", MiosaNode.Json(new { slug = "no-name" })))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "name");
        await (await client.GetAsync("/v1/workspaces?cursor=zzz")).AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "cursor");
    }

    [Fact]
    public async Task Slugs_are_unique_in_an_organization_and_must_be_dns_labels()
    {
        using var client = await FreshOrganizationAsync("ws-slugs");
        var workspace = await client.PostJsonAsync("/v1/workspaces", new { name = "Shared", slug = "shared" }, HttpStatusCode.Created);
        await (await client.PostAsync("/v1/workspaces", MiosaNode.Json(new { name = "Again", slug = "shared" })))
            .AssertProblemAsync(HttpStatusCode.Conflict, "slug_taken", "slug");
        foreach (var bad in new[] { "Bad_Slug", "-edge", "UPPER", new string('a', 64) })
        {
            await (await client.PostAsync("/v1/workspaces", MiosaNode.Json(new { name = "Bad", slug = bad })))
                .AssertProblemAsync(bad.Length > 63 ? HttpStatusCode.BadRequest : HttpStatusCode.UnprocessableEntity,
                    bad.Length > 63 ? "invalid_request" : "invalid_slug", "slug");
        }

        // Another organization has slugs of its own.
        using var other = await FreshOrganizationAsync("ws-slugs-other");
        await other.PostJsonAsync("/v1/workspaces", new { name = "Shared", slug = "shared" }, HttpStatusCode.Created);

        // A name whose slug is taken gets a short suffix instead of a conflict.
        var twin = await client.PostJsonAsync("/v1/workspaces", new { name = "Shared" }, HttpStatusCode.Created);
        Assert.Matches("^shared-[a-z0-9]{4}$", twin.GetProperty("slug").GetString());

        // Projects have a scope of their own, shared by all the organization's workspaces.
        var project = await client.PostJsonAsync("/v1/projects", new { workspace_id = Id(workspace), name = "Site", slug = "shared" }, HttpStatusCode.Created);
        Assert.Equal("shared", project.GetProperty("slug").GetString());
        await (await client.PostAsync("/v1/projects", MiosaNode.Json(new { workspace_id = Id(twin), name = "Site", slug = "shared" })))
            .AssertProblemAsync(HttpStatusCode.Conflict, "slug_taken", "slug");
        await (await client.PostAsync("/v1/projects", MiosaNode.Json(new { workspace_id = Id(twin), name = "Site", slug = "no_underscores" })))
            .AssertProblemAsync(HttpStatusCode.UnprocessableEntity, "invalid_slug", "slug");
        var derived = await client.PostJsonAsync("/v1/projects", new { workspace_id = Id(twin), name = "Site" }, HttpStatusCode.Created);
        Assert.Equal("site", derived.GetProperty("slug").GetString());
    }

    [Fact]
    public async Task Projects_live_in_a_workspace_of_the_caller()
    {
        using var client = await FreshOrganizationAsync("prj-crud");
        var workspace = await client.PostJsonAsync("/v1/workspaces", new { name = "Client" }, HttpStatusCode.Created);
        var other = await client.PostJsonAsync("/v1/workspaces", new { name = "Other client" }, HttpStatusCode.Created);
        var shop = await client.PostJsonAsync("/v1/projects",
            new { workspace_id = Id(workspace), name = "Shop", external_project_id = "p-1", metadata = new { kind = "site" } }, HttpStatusCode.Created);
        Assert.Matches("^prj_[a-z0-9]+$", Id(shop));
        Assert.Equal(Id(workspace), shop.GetProperty("workspace_id").GetString());
        Assert.Equal("shop", shop.GetProperty("slug").GetString());
        Assert.Equal("p-1", shop.GetProperty("external_project_id").GetString());
        Assert.Equal("site", shop.GetProperty("metadata").GetProperty("kind").GetString());
        var blog = await client.PostJsonAsync("/v1/projects", new { workspace_id = Id(workspace), name = "Blog" }, HttpStatusCode.Created);
        var docs = await client.PostJsonAsync("/v1/projects", new { workspace_id = Id(other), name = "Docs", metadata = new { kind = "site" } }, HttpStatusCode.Created);

        var got = JsonDocument.Parse(await client.GetStringAsync($"/v1/projects/{Id(shop)}")).RootElement;
        Assert.Equal(shop.ToString(), got.ToString());
        Assert.Equal([Id(shop), Id(blog), Id(docs)], (await PageAsync(client, "/v1/projects")).Ids);
        Assert.Equal([Id(shop), Id(blog)], (await PageAsync(client, $"/v1/projects?workspace_id={Id(workspace)}")).Ids);
        Assert.Equal([Id(shop)], (await PageAsync(client, "/v1/projects?external_project_id=p-1")).Ids);
        Assert.Equal([Id(shop), Id(docs)], (await PageAsync(client, "/v1/projects?metadata.kind=site")).Ids);
        var (first, cursor) = await PageAsync(client, "/v1/projects?limit=1");
        Assert.Equal([Id(shop)], first);
        Assert.Equal([Id(blog), Id(docs)], (await PageAsync(client, $"/v1/projects?limit=5&cursor={cursor}")).Ids);

        var renamed = await PatchJsonAsync(client, $"/v1/projects/{Id(blog)}", new { name = "Journal" }, HttpStatusCode.OK);
        Assert.Equal(("Journal", "blog"), (renamed.GetProperty("name").GetString(), renamed.GetProperty("slug").GetString()));

        await (await client.PostAsync("/v1/projects", MiosaNode.Json(new { name = "No workspace" })))
            .AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "workspace_id");
        foreach (var missing in new[] { "ws_aaaaaaaaaaaaaaaa", "nope", Id(shop) })
        {
            await (await client.PostAsync("/v1/projects", MiosaNode.Json(new { workspace_id = missing, name = "Lost" })))
                .AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found", "workspace_id");
        }
        using var stranger = await FreshOrganizationAsync("prj-stranger");
        await (await stranger.PostAsync("/v1/projects", MiosaNode.Json(new { workspace_id = Id(workspace), name = "Mine now" })))
            .AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found", "workspace_id");
    }

    [Fact]
    public async Task A_workspace_or_project_that_holds_resources_is_not_deleted_until_emptied()
    {
        using var client = await FreshOrganizationAsync("ws-delete");
        var workspace = await client.PostJsonAsync("/v1/workspaces", new { name = "Client", slug = "client" }, HttpStatusCode.Created);
        var wsId = Id(workspace);
        var app = await client.PostJsonAsync("/v1/projects", new { workspace_id = wsId, name = "App", slug = "app" }, HttpStatusCode.Created);
        var site = await client.PostJsonAsync("/v1/projects", new { workspace_id = wsId, name = "Site" }, HttpStatusCode.Created);
        var sandbox = await client.CreateSandboxAsync(new { workspace_id = wsId, project_id = Id(app) });

        var full = await client.DeleteAsync($"/v1/workspaces/{wsId}");
        await full.AssertProblemAsync(HttpStatusCode.Conflict, "workspace_not_empty");
        var holds = (await full.ReadJsonAsync()).GetProperty("holds");
        Assert.Equal(2, holds.GetProperty("projects").GetInt32());
        Assert.Equal(1, holds.GetProperty("sandboxes").GetInt32());

        var busy = await client.DeleteAsync($"/v1/projects/{Id(app)}");
        await busy.AssertProblemAsync(HttpStatusCode.Conflict, "project_not_empty");
        var projectHolds = (await busy.ReadJsonAsync()).GetProperty("holds");
        Assert.Equal(1, projectHolds.GetProperty("sandboxes").GetInt32());
        Assert.False(projectHolds.TryGetProperty("projects", out _));
        // Refused deletes leave everything in place.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/projects/{Id(app)}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/workspaces/{wsId}")).StatusCode);

        // A destroyed sandbox holds nothing.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/sandboxes/{sandbox}")).StatusCode);
        await AssertDeletedAsync(client, $"/v1/projects/{Id(app)}");
        await (await client.GetAsync($"/v1/projects/{Id(app)}")).AssertProblemAsync(HttpStatusCode.NotFound, "project_not_found");
        await (await client.PatchAsync($"/v1/projects/{Id(app)}", MiosaNode.Json(new { name = "x" }))).AssertProblemAsync(HttpStatusCode.NotFound, "project_not_found");
        Assert.Equal([Id(site)], (await PageAsync(client, "/v1/projects")).Ids);

        var stillOne = await client.DeleteAsync($"/v1/workspaces/{wsId}");
        await stillOne.AssertProblemAsync(HttpStatusCode.Conflict, "workspace_not_empty");
        Assert.Equal(1, (await stillOne.ReadJsonAsync()).GetProperty("holds").GetProperty("projects").GetInt32());
        await AssertDeletedAsync(client, $"/v1/projects/{Id(site)}");
        await AssertDeletedAsync(client, $"/v1/workspaces/{wsId}");
        await (await client.GetAsync($"/v1/workspaces/{wsId}")).AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found");
        Assert.Empty((await PageAsync(client, "/v1/workspaces")).Ids);
        // A repeated delete (a retry) answers the same.
        await AssertDeletedAsync(client, $"/v1/workspaces/{wsId}");
        await (await client.PostAsync("/v1/projects", MiosaNode.Json(new { workspace_id = wsId, name = "Late" })))
            .AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found", "workspace_id");

        // The slugs of deleted workspaces and projects are free again.
        var reborn = await client.PostJsonAsync("/v1/workspaces", new { name = "Client again", slug = "client" }, HttpStatusCode.Created);
        Assert.NotEqual(wsId, Id(reborn));
        var again = await client.PostJsonAsync("/v1/projects", new { workspace_id = Id(reborn), name = "App again", slug = "app" }, HttpStatusCode.Created);
        Assert.Equal("app", again.GetProperty("slug").GetString());
        Assert.Equal([Id(reborn)], (await PageAsync(client, "/v1/workspaces")).Ids);

        // The audit log tells what happened to them.
        var audit = JsonDocument.Parse(await client.GetStringAsync($"/v1/audit-events?resource_id={wsId}")).RootElement;
        var actions = audit.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        Assert.Equal(["workspace.deleted", "workspace.created"], actions);
    }

    [Fact]
    public async Task Another_organizations_workspaces_and_projects_are_404_everywhere()
    {
        using var owner = await FreshOrganizationAsync("ws-owner");
        var workspace = Id(await owner.PostJsonAsync("/v1/workspaces", new { name = "Private", slug = "private" }, HttpStatusCode.Created));
        var project = Id(await owner.PostJsonAsync("/v1/projects", new { workspace_id = workspace, name = "Secret", slug = "secret" }, HttpStatusCode.Created));

        using var intruder = await FreshOrganizationAsync("ws-intruder");
        await (await intruder.GetAsync($"/v1/workspaces/{workspace}")).AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found");
        await (await intruder.PatchAsync($"/v1/workspaces/{workspace}", MiosaNode.Json(new { name = "Mine" }))).AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found");
        await (await intruder.DeleteAsync($"/v1/workspaces/{workspace}")).AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found");
        await (await intruder.GetAsync($"/v1/projects/{project}")).AssertProblemAsync(HttpStatusCode.NotFound, "project_not_found");
        await (await intruder.PatchAsync($"/v1/projects/{project}", MiosaNode.Json(new { name = "Mine" }))).AssertProblemAsync(HttpStatusCode.NotFound, "project_not_found");
        await (await intruder.DeleteAsync($"/v1/projects/{project}")).AssertProblemAsync(HttpStatusCode.NotFound, "project_not_found");
        await (await intruder.PostAsync("/v1/projects", MiosaNode.Json(new { workspace_id = workspace, name = "Mine" })))
            .AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found", "workspace_id");
        Assert.Empty((await PageAsync(intruder, "/v1/workspaces")).Ids);
        Assert.Empty((await PageAsync(intruder, $"/v1/projects?workspace_id={workspace}")).Ids);

        // Nothing the intruder did touched them.
        var still = JsonDocument.Parse(await owner.GetStringAsync($"/v1/workspaces/{workspace}")).RootElement;
        Assert.Equal("Private", still.GetProperty("name").GetString());
        Assert.Equal("Secret", JsonDocument.Parse(await owner.GetStringAsync($"/v1/projects/{project}")).RootElement.GetProperty("name").GetString());
        await (await owner.DeleteAsync($"/v1/workspaces/{workspace}")).AssertProblemAsync(HttpStatusCode.Conflict, "workspace_not_empty");
    }
}

public class WorkspaceRestartTests
{
    [Fact]
    public async Task Workspaces_projects_and_slugs_survive_a_kill_9()
    {
        await using var first = new MiosaNode();
        await first.StartAsync();
        string kept, project, gone;
        using (var client = first.Client())
        {
            kept = (await client.PostJsonAsync("/v1/workspaces", new { name = "Kept", slug = "kept" }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
            var renamed = await client.PatchAsync($"/v1/workspaces/{kept}", MiosaNode.Json(new { name = "Kept and renamed" }));
            Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
            project = (await client.PostJsonAsync("/v1/projects", new { workspace_id = kept, name = "App", slug = "app" }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
            gone = (await client.PostJsonAsync("/v1/workspaces", new { name = "Gone", slug = "gone" }, HttpStatusCode.Created)).GetProperty("id").GetString()!;
            Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/workspaces/{gone}")).StatusCode);
        }
        await first.KillAsync();

        await using var second = new MiosaNode(first.DataDir);
        await second.StartAsync();
        using var after = second.Client();
        var workspace = JsonDocument.Parse(await after.GetStringAsync($"/v1/workspaces/{kept}")).RootElement;
        Assert.Equal(("kept", "Kept and renamed"), (workspace.GetProperty("slug").GetString(), workspace.GetProperty("name").GetString()));
        var listed = JsonDocument.Parse(await after.GetStringAsync("/v1/workspaces")).RootElement.GetProperty("data");
        Assert.Equal([kept], listed.EnumerateArray().Select(w => w.GetProperty("id").GetString()));
        var projects = JsonDocument.Parse(await after.GetStringAsync($"/v1/projects?workspace_id={kept}")).RootElement.GetProperty("data");
        Assert.Equal([project], projects.EnumerateArray().Select(p => p.GetProperty("id").GetString()));
        await (await after.GetAsync($"/v1/workspaces/{gone}")).AssertProblemAsync(HttpStatusCode.NotFound, "workspace_not_found");

        await (await after.PostAsync("/v1/workspaces", MiosaNode.Json(new { name = "Kept", slug = "kept" }))).AssertProblemAsync(HttpStatusCode.Conflict, "slug_taken", "slug");
        await (await after.PostAsync("/v1/projects", MiosaNode.Json(new { workspace_id = kept, name = "App", slug = "app" }))).AssertProblemAsync(HttpStatusCode.Conflict, "slug_taken", "slug");
        await after.PostJsonAsync("/v1/workspaces", new { name = "Gone again", slug = "gone" }, HttpStatusCode.Created);
        await (await after.DeleteAsync($"/v1/workspaces/{kept}")).AssertProblemAsync(HttpStatusCode.Conflict, "workspace_not_empty");
    }
}
