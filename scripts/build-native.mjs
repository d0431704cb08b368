// placeholder until native lands
