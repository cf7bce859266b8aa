using System.Net;

namespace Miosa.Edge.Tests;

public class EdgeServerTests
{
    [Fact]
    public async Task An_address_with_no_route_answers_the_not_found_page()
    {
        await using var edge = await EdgeServer.StartAsync("127.0.0.1", 0);
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, edge.Url + "/anything");
        request.Headers.Host = "3000-sbx_nothing.sandbox.localhost";
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Nothing is served at this address", await response.Content.ReadAsStringAsync());
    }
}
