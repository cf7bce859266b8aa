using System.Net;

namespace Miosa.Api.Tests;

/// <summary>
/// A tenant's own preview domain, verified against a real DNS server on loopback (dnsmasq) holding
/// the customer's wildcard CNAME; previews then answer on both hosts, for that organization only.
/// </summary>
public sealed class TenantPreviewDomainTests : IAsyncLifetime
{
    private readonly MiosaNode _node = new();
    private DnsServer _dns = null!;

    public async Task InitializeAsync()
    {
        _dns = await DnsServer.StartAsync(("*.previews.acme.test", "sandbox.localhost"), ("*.elsewhere.test", "cdn.other.test"));
        _node.Environment["MIOSA_DNS_RESOLVER"] = _dns.Endpoint;
        await _node.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _node.DisposeAsync();
        await _dns.DisposeAsync();
    }

    [Fact]
    public async Task A_verified_preview_domain_serves_the_organizations_previews_and_no_one_elses()
    {
        using var acme = _node.Client();
        using var other = _node.Client(await _node.CreateOrganizationAsync("other-tenant"));
        await (await acme.GetAsync("/v1/tenant/preview-domain")).AssertProblemAsync(HttpStatusCode.NotFound, "preview_domain_not_set");
        await (await acme.PostAsync("/v1/tenant/preview-domain/verify", null)).AssertProblemAsync(HttpStatusCode.NotFound, "preview_domain_not_set");
        foreach (var bad in new[] { "localhost", "x.localhost", "127.0.0.1", "Previews.Acme.Test", "nodot", "sandbox.localhost", "a..b.test" })
        {
            await (await acme.PutAsync("/v1/tenant/preview-domain", MiosaNode.Json(new { domain = bad })))
                .AssertProblemAsync(HttpStatusCode.BadRequest, "invalid_request", "domain");
        }

        var set = await (await acme.PutAsync("/v1/tenant/preview-domain", MiosaNode.Json(new { domain = "previews.acme.test" }))).ReadJsonAsync();
        Assert.Equal("pending", set.GetProperty("status").GetString());
        Assert.Equal("sandbox.localhost", set.GetProperty("cname_target").GetString());
        await (await other.PutAsync("/v1/tenant/preview-domain", MiosaNode.Json(new { domain = "previews.acme.test" })))
            .AssertProblemAsync(HttpStatusCode.Conflict, "preview_domain_taken", "domain");

        var acmeSandbox = await acme.CreateSandboxAsync();
        await PreviewApp.StartAsync(acme, acmeSandbox, 3000);
        var url = (await acme.PostJsonAsync($"/v1/sandboxes/{acmeSandbox}/previews", new { port = 3000, visibility = "public" }, HttpStatusCode.Created))
            .GetProperty("url").GetString()!;
        var otherSandbox = await other.CreateSandboxAsync();
        await other.PostJsonAsync($"/v1/sandboxes/{otherSandbox}/previews", new { port = 3000, visibility = "public" }, HttpStatusCode.Created);
        using var visitor = new PreviewVisitor(_node.EdgePort);
        var onTenantDomain = $"http://3000-{acmeSandbox[4..]}.previews.acme.test:{_node.EdgePort}/echo";
        // Pending: the domain serves nothing yet.
        await visitor.WaitForAsync(url, HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.NotFound, (await visitor.GetAsync(onTenantDomain)).StatusCode);

        var verified = await acme.PostJsonAsync("/v1/tenant/preview-domain/verify", new { }, HttpStatusCode.OK);
        Assert.Equal("verified", verified.GetProperty("status").GetString());
        Assert.Contains("sandbox.localhost", verified.GetProperty("detail").GetString());
        var echo = await PreviewVisitor.EchoAsync(await visitor.WaitForAsync(onTenantDomain, HttpStatusCode.OK));
        Assert.Equal($"3000-{acmeSandbox[4..]}.previews.acme.test:{_node.EdgePort}", echo.GetProperty("host").GetString());
        Assert.Equal(HttpStatusCode.OK, (await visitor.GetAsync(url)).StatusCode);
        // Another organization's sandbox under this organization's domain is absent.
        Assert.Equal(HttpStatusCode.NotFound, (await visitor.GetAsync($"http://3000-{otherSandbox[4..]}.previews.acme.test:{_node.EdgePort}/")).StatusCode);

        // A domain whose CNAME points elsewhere stays pending, with the reason.
        await (await other.PutAsync("/v1/tenant/preview-domain", MiosaNode.Json(new { domain = "elsewhere.test" }))).ReadJsonAsync();
        var pending = await other.PostJsonAsync("/v1/tenant/preview-domain/verify", new { }, HttpStatusCode.OK);
        Assert.Equal("pending", pending.GetProperty("status").GetString());
        Assert.Contains("cdn.other.test", pending.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await visitor.GetAsync($"http://3000-{otherSandbox[4..]}.elsewhere.test:{_node.EdgePort}/")).StatusCode);
    }
}
