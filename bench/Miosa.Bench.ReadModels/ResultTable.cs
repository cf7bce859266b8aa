using System.Text;

namespace Miosa.Bench.ReadModels;

/// <summary>One line of the result: a measured figure next to its baseline(s) and its goal.</summary>
public sealed record ResultRow(string Metric, string Measured, string Baseline, string Goal);

/// <summary>The results of one run, printed as a Markdown table with notes under it.</summary>
public sealed class ResultTable
{
    private readonly List<ResultRow> _rows = [];
    private readonly List<string> _notes = [];

    public void Add(string metric, string measured, string baseline = "", string goal = "")
    {
        lock (_rows) _rows.Add(new ResultRow(metric, measured, baseline, goal));
        Console.Error.WriteLine($"bench: {metric}: {measured}{(baseline.Length > 0 ? $" (baseline {baseline})" : "")}{(goal.Length > 0 ? $" [{goal}]" : "")}");
    }

    public void Note(string note)
    {
        lock (_notes) _notes.Add(note);
        Console.Error.WriteLine($"bench: note: {note}");
    }

    public bool HasErrors { get; private set; }

    public void Failed(string metric, string goal, Exception error)
    {
        HasErrors = true;
        Add(metric, "error", goal: goal);
        Note($"{metric}: {error.GetType().Name}: {error.Message}");
        Console.Error.WriteLine(error);
    }

    /// <summary>A goal with its verdict, e.g. "p99 &lt; 20 ms: met".</summary>
    public static string Goal(string goal, bool met) => $"{goal}: {(met ? "met" : "missed")}";

    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine("| metric | measured | baseline | goal |");
        text.AppendLine("|---|---|---|---|");
        lock (_rows)
        {
            foreach (var row in _rows)
                text.AppendLine($"| {Cell(row.Metric)} | {Cell(row.Measured)} | {Cell(row.Baseline)} | {Cell(row.Goal)} |");
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
