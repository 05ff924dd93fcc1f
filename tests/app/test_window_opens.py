from app.main_window import MainWindow


def test_main_window_opens_with_the_product_title(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.isVisible()
    assert window.windowTitle().startswith("DETR Studio")
