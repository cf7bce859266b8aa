using System.Net;
using Miosa.Edge.Tests.Browser;

namespace Miosa.Api.Tests;

/// <summary>End to end in a real browser (Debian's headless Chromium): an embedded-style preview link with an mp_ token.</summary>
[Collection(SharedNodeCollection.Name)]
public class PreviewBrowserTests(SharedNode shared)
{
    private readonly MiosaNode _node = shared.Node;

    [Fact]
    public async Task A_browser_opens_a_private_preview_from_a_token_link_renders_it_and_talks_WebSocket_to_the_sandbox()
    {
        using var api = _node.Client();
        var id = await api.CreateSandboxAsync();
        await PreviewApp.StartAsync(api, id, 3000);
        var url = (await api.PostJsonAsync($"/v1/sandboxes/{id}/previews", new { port = 3000 }, HttpStatusCode.Created)).GetProperty("url").GetString()!;
        var link = (await api.PostJsonAsync("/v1/preview-tokens", new { sandbox_id = id, port = 3000, ttl_seconds = 300 }, HttpStatusCode.Created))
            .GetProperty("url").GetString()!;
        using (var visitor = new PreviewVisitor(_node.EdgePort)) await visitor.WaitForAsync(url, HttpStatusCode.Unauthorized);

        await using var browser = await HeadlessChromium.LaunchAsync();
        await using var page = await browser.NewPageAsync();
        Assert.Equal(200, await page.GotoAsync(link));
        Assert.Equal("Hello from the sandbox", await page.EvaluateAsync<string>("document.getElementById('title').textContent"));
        Assert.Equal(url, await page.EvaluateAsync<string>("location.href"));
        await page.WaitForAsync("document.getElementById('ws').textContent === 'pong:ping'", TimeSpan.FromSeconds(10));

        // The token lives on as an HttpOnly cookie of this host only; scripts cannot read it and a reload works.
        var cookie = Assert.Single(await page.CookiesAsync(), c => c.Name == "miosa_preview");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(new Uri(url).Host, cookie.Domain);
        Assert.DoesNotContain("miosa_preview", await page.EvaluateAsync<string>("document.cookie"));
        Assert.Equal(200, await page.GotoAsync(url));

        // Without the cookie (a fresh page of another browser profile) the preview is a 401 page.
        await using var stranger = await HeadlessChromium.LaunchAsync();
        await using var strangerPage = await stranger.NewPageAsync();
        Assert.Equal(401, await strangerPage.GotoAsync(url));
    }
}
