using System.Text;

namespace Miosa.Bench;

/// <summary>One line of the result: a Miosa figure next to its baseline(s) and its goal.</summary>
public sealed record ResultRow(string Metric, string Miosa, string Baseline, string Ratio, string Goal);

/// <summary>The results of one run, printed as a Markdown table with notes under it.</summary>
public sealed class ResultTable
{
    private readonly List<ResultRow> _rows = [];
    private readonly List<string> _notes = [];

    public void Add(string metric, string miosa, string baseline = "", string ratio = "", string goal = "")
    {
        var row = new ResultRow(metric, miosa, baseline, ratio, goal);
        lock (_rows) _rows.Add(row);
        Console.Error.WriteLine($"bench: {metric}: {miosa}{(baseline.Length > 0 ? $" (baseline {baseline})" : "")}");
    }

    public void Note(string note)
    {
        lock (_notes) _notes.Add(note);
        Console.Error.WriteLine($"bench: note: {note}");
    }

    public bool HasErrors { get; private set; }

    public void Failed(string metric, string goal, Exception error, string baseline = "")
    {
        HasErrors = true;
        Add(metric, "error", baseline, goal: goal);
        Note($"{metric}: {error.GetType().Name}: {error.Message}");
    }

    /// <summary>"×2.4" of a Miosa time against a baseline time (how many times slower).</summary>
    public static string Ratio(double miosa, double baseline) => baseline > 0 ? $"×{miosa / baseline:F1}" : "";

    /// <summary>A goal with its verdict, e.g. "≤ 25 ms: met".</summary>
    public static string Goal(string goal, bool met) => $"{goal}: {(met ? "met" : "missed")}";

    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine("| metric | Miosa | baseline | ratio | goal |");
        text.AppendLine("|---|---|---|---|---|");
        lock (_rows)
        {
            foreach (var row in _rows)
                text.AppendLine($"| {Cell(row.Metric)} | {Cell(row.Miosa)} | {Cell(row.Baseline)} | {Cell(row.Ratio)} | {Cell(row.Goal)} |");
        }
        lock (_notes)
        {
            if (_notes.Count > 0) text.AppendLine();
            foreach (var note in _notes) text.AppendLine($"- {note.ReplaceLineEndings(" ")}");
        }
        return text.ToString();
    }

    private static string Cell(string value) => value.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ");
}
