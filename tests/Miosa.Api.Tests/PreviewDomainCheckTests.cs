using System.Diagnostics;
using Miosa.Api.Tenancy;

namespace Miosa.Api.Tests;

/// <summary>Preview domain verification against a real DNS server (dnsmasq on loopback; nothing leaves the machine).</summary>
public class PreviewDomainCheckTests
{
    private const string Domain = "previews.acme.test";
    private const string Edge = "sandbox.localhost";

    [Fact]
    public async Task A_wildcard_cname_to_the_edge_verifies_the_domain()
    {
        await using var dns = await DnsServer.StartAsync(("*.previews.acme.test", Edge));

        var result = await new PreviewDomainCheck(dns.Endpoint).CheckAsync(Domain, Edge, CancellationToken.None);

        Assert.True(result.Verified, result.Detail);
        Assert.Equal("found CNAME miosa-check.previews.acme.test -> sandbox.localhost", result.Detail);
    }

    [Fact]
    public async Task Names_compare_case_insensitively_and_without_the_trailing_dot()
    {
        await using var dns = await DnsServer.StartAsync(("*.previews.acme.test", "Sandbox.LocalHost"));

        var result = await new PreviewDomainCheck(dns.Endpoint).CheckAsync(Domain + ".", "SANDBOX.localhost.", CancellationToken.None);

        Assert.True(result.Verified, result.Detail);
    }

    [Fact]
    public async Task A_missing_record_leaves_the_domain_pending()
    {
        // Only an exact name: the preview hosts (and the probe) have no record.
        await using var dns = await DnsServer.StartAsync(("www.previews.acme.test", Edge));

        var result = await new PreviewDomainCheck(dns.Endpoint).CheckAsync(Domain, Edge, CancellationToken.None);

        Assert.False(result.Verified);
        Assert.Equal("no CNAME record for miosa-check.previews.acme.test", result.Detail);
    }

    [Fact]
    public async Task A_cname_to_somewhere_else_leaves_the_domain_pending()
    {
        await using var dns = await DnsServer.StartAsync(("*.previews.acme.test", "lb.elsewhere.test"));

        var result = await new PreviewDomainCheck(dns.Endpoint).CheckAsync(Domain, Edge, CancellationToken.None);

        Assert.False(result.Verified);
        Assert.Equal("CNAME points at lb.elsewhere.test, expected sandbox.localhost", result.Detail);
    }

    [Fact]
    public async Task A_fixed_record_verifies_on_the_next_check()
    {
        await using var dns = await DnsServer.StartAsync();
        Assert.False((await new PreviewDomainCheck(dns.Endpoint).CheckAsync(Domain, Edge, CancellationToken.None)).Verified);

        await dns.ReplaceRecordsAsync(("*.previews.acme.test", Edge));

        var result = await new PreviewDomainCheck(dns.Endpoint).CheckAsync(Domain, Edge, CancellationToken.None);
        Assert.True(result.Verified, result.Detail);
    }

    [Fact]
    public async Task A_refused_query_fails_the_check()
    {
        // The test server is authoritative for .test only; it refuses everything else.
        await using var dns = await DnsServer.StartAsync(("*.previews.acme.test", Edge));

        var result = await new PreviewDomainCheck(dns.Endpoint).CheckAsync("previews.acme.example", Edge, CancellationToken.None);

        Assert.False(result.Verified);
        Assert.Equal($"DNS lookup failed: Query Refused (from resolver {dns.Endpoint})", result.Detail);
    }

    [Fact]
    public async Task A_resolver_that_is_not_listening_fails_the_check_quickly()
    {
        var nothing = $"127.0.0.1:{DnsServer.FreePort()}";
        var clock = Stopwatch.StartNew();

        var result = await new PreviewDomainCheck(nothing).CheckAsync(Domain, Edge, CancellationToken.None);

        Assert.False(result.Verified);
        Assert.Equal($"DNS lookup failed: no answer from resolver {nothing} for miosa-check.previews.acme.test", result.Detail);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:5353")]
    [InlineData("[::1]:5353")]
    public void Resolver_endpoints_parse(string resolver) => Assert.NotNull(PreviewDomainCheck.ParseResolver(resolver));

    [Theory]
    [InlineData("dns.example.com:53")]
    [InlineData("127.0.0.1:99999")]
    [InlineData("")]
    public void Bad_resolver_endpoints_are_rejected_clearly(string resolver)
    {
        var error = Assert.Throws<ArgumentException>(() => new PreviewDomainCheck(resolver));
        Assert.Contains("DNS resolver must be an IP address", error.Message);
    }

    [Theory]
    [InlineData("previews.acme.test")]
    [InlineData("acme.io")]
    [InlineData("a-1.b2.example.com")]
    public void Good_domains_pass_validation(string domain) =>
        Assert.Null(PreviewDomainCheck.ValidateDomain(domain, "miosa.dev"));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("10.0.0.1", "IP address")]
    [InlineData("::1", "IP address")]
    [InlineData("localhost", "localhost")]
    [InlineData("previews.localhost", "localhost")]
    [InlineData("Previews.Acme.test", "lowercase")]
    [InlineData("previews.acme.test.", "dot")]
    [InlineData("acme", "two labels")]
    [InlineData("previews..acme.test", "1-63")]
    [InlineData("under_score.acme.test", "a-z, 0-9")]
    [InlineData("-previews.acme.test", "start or end")]
    [InlineData("previews-.acme.test", "start or end")]
    [InlineData("miosa.dev", "platform's own domain")]
    [InlineData("previews.acme.miosa.dev", "platform's own domain")]
    public void Bad_domains_fail_validation(string domain, string reason)
    {
        var error = PreviewDomainCheck.ValidateDomain(domain, "miosa.dev");
        Assert.NotNull(error);
        Assert.Contains(reason, error);
    }

    [Fact]
    public void Overlong_domains_and_labels_fail_validation()
    {
        var label = new string('a', 50);
        var tooLong = string.Join('.', Enumerable.Repeat(label, 4)) + ".test"; // 209 characters
        Assert.Contains("at most 200", PreviewDomainCheck.ValidateDomain(tooLong, "miosa.dev"));
        Assert.Contains("1-63", PreviewDomainCheck.ValidateDomain(new string('a', 64) + ".acme.test", "miosa.dev"));
        Assert.Null(PreviewDomainCheck.ValidateDomain(new string('a', 63) + ".acme.test", "miosa.dev"));
    }

    [Fact]
    public void A_domain_merely_ending_like_the_base_domain_is_not_under_it() =>
        Assert.Null(PreviewDomainCheck.ValidateDomain("previews.notmiosa.dev", "miosa.dev"));
}
