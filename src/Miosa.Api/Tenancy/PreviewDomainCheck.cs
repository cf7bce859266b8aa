using System.Net;
using DnsClient;
using DnsClient.Protocol;

namespace Miosa.Api.Tenancy;

/// <summary>The outcome of one DNS check of a tenant preview domain; <see cref="Detail"/> is shown to the customer.</summary>
public sealed record PreviewDomainCheckResult(bool Verified, string Detail);

/// <summary>
/// Verifies a tenant preview domain: previews are served at <c>&lt;port&gt;-&lt;sandbox&gt;.&lt;domain&gt;</c>, so the
/// customer must publish <c>*.&lt;domain&gt; CNAME &lt;cname target&gt;</c> (the Miosa edge's name).
/// </summary>
public sealed class PreviewDomainCheck
{
    /// <summary>The label looked up under the tenant's domain.</summary>
    public const string ProbeLabel = "miosa-check";

    /// <summary>Longest accepted domain: 253 (DNS limit) less room for the "&lt;port&gt;-&lt;sandbox&gt;." prefix.</summary>
    public const int MaxDomainLength = 200;

    private readonly LookupClient _client;
    private readonly string _resolverName;

    /// <param name="resolver">
    /// The DNS server to ask, "ip:port" (port defaults to 53), as MIOSA_DNS_RESOLVER;
    /// null uses the system resolver (/etc/resolv.conf).
    /// </param>
    public PreviewDomainCheck(string? resolver)
    {
        var endpoint = resolver is null ? null : ParseResolver(resolver);
        var options = endpoint is null ? new LookupClientOptions() : new LookupClientOptions(endpoint);
        _resolverName = endpoint is null ? "the system resolver" : $"resolver {endpoint}";
        options.UseCache = false; // a customer who just fixed their record must see it on the next check
        options.Timeout = TimeSpan.FromSeconds(2);
        options.Retries = 1;
        options.ThrowDnsErrors = false; // NXDOMAIN and friends are answers, reported in the result
        _client = new LookupClient(options);
    }

    /// <summary>Parses "ip:port", "ip" or "[ipv6]:port"; throws an <see cref="ArgumentException"/> naming the bad value.</summary>
    public static IPEndPoint ParseResolver(string resolver)
    {
        if (!IPEndPoint.TryParse(resolver.Trim(), out var endpoint))
            throw new ArgumentException(
                $"DNS resolver must be an IP address with an optional port (1.2.3.4:53, [::1]:53), got '{resolver}'.", nameof(resolver));
        return endpoint.Port == 0 ? new IPEndPoint(endpoint.Address, 53) : endpoint;
    }

    public async Task<PreviewDomainCheckResult> CheckAsync(string domain, string cnameTarget, CancellationToken ct)
    {
        // A wildcard record answers for any label that has no record of its own, so one probe name
        // (one nobody would create by hand) proves that *.<domain> points at us, which is what every
        // <port>-<sandbox>.<domain> preview host relies on.
        var probe = $"{ProbeLabel}.{Normalize(domain)}";
        var expected = Normalize(cnameTarget);

        IDnsQueryResponse response;
        try
        {
            response = await _client.QueryAsync(probe, QueryType.CNAME, QueryClass.IN, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (DnsResponseException e) when (e.Code == DnsResponseCode.ConnectionTimeout)
        {
            return new(false, $"DNS lookup failed: no answer from {_resolverName} for {probe}");
        }
        catch (Exception e) when (e is DnsResponseException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return new(false, $"DNS lookup failed: {e.Message}");
        }

        if (response.Header.ResponseCode is not (DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain))
            return new(false, $"DNS lookup failed: {response.ErrorMessage} (from {_resolverName})");

        // A recursive resolver may hand back the whole chain (probe -> a -> b); the record that
        // matters is the one owned by the probe name, but a chain passing through us counts too.
        var cnames = response.Answers.CnameRecords().ToList();
        var first = cnames.FirstOrDefault(r => Normalize(r.DomainName.Value) == probe);
        if (first is null)
            return new(false, $"no CNAME record for {probe}");

        var current = first;
        for (var hops = 0; current is not null && hops <= cnames.Count; hops++)
        {
            var target = Normalize(current.CanonicalName.Value);
            if (target == expected)
                return new(true, $"found CNAME {probe} -> {target}");
            current = cnames.FirstOrDefault(r => Normalize(r.DomainName.Value) == target);
        }
        return new(false, $"CNAME points at {Normalize(first.CanonicalName.Value)}, expected {expected}");
    }

    /// <summary>
    /// Why <paramref name="domain"/> cannot be a tenant preview domain, or null when it can.
    /// <paramref name="baseDomain"/> is the platform's own (MIOSA_BASE_DOMAIN); it and its subdomains are ours.
    /// </summary>
    public static string? ValidateDomain(string domain, string baseDomain)
    {
        if (string.IsNullOrWhiteSpace(domain))
            return "The preview domain is empty.";
        if (IPAddress.TryParse(domain, out _))
            return $"'{domain}' is an IP address; the preview domain must be a DNS name.";
        if (domain != domain.ToLowerInvariant())
            return $"'{domain}' must be lowercase.";
        if (domain.EndsWith('.'))
            return $"'{domain}' must not end with a dot.";
        if (domain.Length > MaxDomainLength)
            return $"The preview domain is {domain.Length} characters long; at most {MaxDomainLength} are allowed.";

        var labels = domain.Split('.');
        if (labels.Length < 2)
            return $"'{domain}' must have at least two labels (like previews.example.com).";
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63)
                return $"'{domain}' has a label of {label.Length} characters; each must be 1-63.";
            if (label.AsSpan().IndexOfAnyExcept("abcdefghijklmnopqrstuvwxyz0123456789-") >= 0)
                return $"The label '{label}' may only contain a-z, 0-9 and '-'.";
            if (label.StartsWith('-') || label.EndsWith('-'))
                return $"The label '{label}' must not start or end with '-'.";
        }

        if (domain == "localhost" || domain.EndsWith(".localhost", StringComparison.Ordinal))
            return $"'{domain}' is a localhost name.";
        var platform = Normalize(baseDomain);
        if (platform.Length > 0 && (domain == platform || domain.EndsWith("." + platform, StringComparison.Ordinal)))
            return $"'{domain}' belongs to the platform's own domain {platform}.";
        return null;
    }

    /// <summary>Lowercase, without surrounding whitespace or the trailing root dot.</summary>
    private static string Normalize(string name) => name.Trim().TrimEnd('.').ToLowerInvariant();
}
